package reconcile

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rackctl/rackctl/internal/atomicfile"
	"github.com/rackctl/rackctl/render"
)

// ManifestVersion is the version of managed-files.json.
const ManifestVersion = 1

// Manifest is the set of files rackctl manages (managed-files.json): a file
// in it that is no longer desired is deleted, or, for a Block file, has its
// block removed. A Manifest with Version 0 is "none" (Apply leaves the saved
// one alone).
type Manifest struct {
	Version int           `json:"version"`
	Files   []ManagedFile `json:"files"`
}

// ManagedFile is one entry of a Manifest.
type ManagedFile struct {
	Path  string `json:"path"`            // slash-separated, relative to the root
	Block bool   `json:"block,omitempty"` // only a marked block is rackctl's
	Node  string `json:"node,omitempty"`  // the node the file belongs to, if any
}

// ManifestOf returns the manifest of the desired files.
func ManifestOf(files []render.File) Manifest {
	m := Manifest{Version: ManifestVersion, Files: make([]ManagedFile, 0, len(files))}
	for _, f := range files {
		m.Files = append(m.Files, ManagedFile{Path: f.Path, Block: f.Kind == render.Block, Node: f.Node})
	}
	m.normalize()
	return m
}

// normalize sorts the entries by path and drops duplicates.
func (m *Manifest) normalize() {
	slices.SortFunc(m.Files, func(a, b ManagedFile) int { return strings.Compare(a.Path, b.Path) })
	m.Files = slices.CompactFunc(m.Files, func(a, b ManagedFile) bool { return a.Path == b.Path })
}

// union returns the entries of m and o, m's winning on a conflict.
func (m Manifest) union(o Manifest) Manifest {
	out := Manifest{Version: ManifestVersion, Files: append(slices.Clone(m.Files), o.Files...)}
	slices.SortStableFunc(out.Files, func(a, b ManagedFile) int { return strings.Compare(a.Path, b.Path) })
	out.Files = slices.CompactFunc(out.Files, func(a, b ManagedFile) bool { return a.Path == b.Path })
	return out
}

// LoadManifest reads <stateDir>/managed-files.json; a missing file is an
// empty manifest.
func LoadManifest(stateDir string) (Manifest, error) {
	path := filepath.Join(stateDir, ManifestFile)
	var m Manifest
	found, err := atomicfile.ReadJSON(path, &m)
	if err != nil {
		return Manifest{}, fmt.Errorf("read manifest: %w", err)
	}
	if !found {
		return Manifest{Version: ManifestVersion}, nil
	}
	if m.Version != ManifestVersion {
		return Manifest{}, fmt.Errorf("manifest %s: unsupported version %d", path, m.Version)
	}
	for _, f := range m.Files {
		if err := checkPath(f.Path); err != nil {
			return Manifest{}, fmt.Errorf("manifest %s: %w", path, err)
		}
	}
	m.normalize()
	return m, nil
}

// SaveManifest writes m to <stateDir>/managed-files.json atomically.
func SaveManifest(stateDir string, m Manifest) error {
	m.Version = ManifestVersion
	m.Files = slices.Clone(m.Files)
	if m.Files == nil {
		m.Files = []ManagedFile{}
	}
	m.normalize()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(stateDir, ManifestFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save manifest: %w", err)
	}
	return nil
}
