package state

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/rackctl/rackctl/internal/atomicfile"
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

// Normalize sorts the entries by path and drops duplicates.
func (m *Manifest) Normalize() {
	slices.SortFunc(m.Files, func(a, b ManagedFile) int { return strings.Compare(a.Path, b.Path) })
	m.Files = slices.CompactFunc(m.Files, func(a, b ManagedFile) bool { return a.Path == b.Path })
}

// Union returns the entries of m and o, m's winning on a conflict.
func (m Manifest) Union(o Manifest) Manifest {
	out := Manifest{Version: ManifestVersion, Files: append(slices.Clone(m.Files), o.Files...)}
	slices.SortStableFunc(out.Files, func(a, b ManagedFile) int { return strings.Compare(a.Path, b.Path) })
	out.Files = slices.CompactFunc(out.Files, func(a, b ManagedFile) bool { return a.Path == b.Path })
	return out
}

// CheckRelPath refuses a managed path that is not a clean slash path
// relative to the root: a manifest entry is deleted by a later apply, so a
// planted "../x" or "/etc/x" in the state dir would reach outside the root.
func CheckRelPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "\\") {
		return fmt.Errorf("file path %q: must be a clean slash path relative to the root", p)
	}
	return nil
}

// LoadManifest reads managed-files.json; a missing file is an empty
// manifest.
func (d Dir) LoadManifest() (Manifest, error) {
	path := d.File(ManifestFile)
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
		if err := CheckRelPath(f.Path); err != nil {
			return Manifest{}, fmt.Errorf("manifest %s: %w", path, err)
		}
	}
	m.Normalize()
	return m, nil
}

// SaveManifest writes m to managed-files.json atomically, sorted.
func (d Dir) SaveManifest(m Manifest) error {
	m.Version = ManifestVersion
	m.Files = slices.Clone(m.Files)
	if m.Files == nil {
		m.Files = []ManagedFile{}
	}
	m.Normalize()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := atomicfile.Write(d.File(ManifestFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save manifest: %w", err)
	}
	return nil
}
