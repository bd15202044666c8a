// Package atomicfile replaces files so that a reader, or a process killed
// half-way, sees either the old content or the new one, never a mix. Every
// package of rackctl that writes state or managed files goes through it.
package atomicfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// TempSuffix marks temp files next to their target: "."+base+TempSuffix+random;
// internal/rootfs names its temp files the same way, so one clean-up finds both.
const TempSuffix = ".rackctl-"

// Write replaces path with data: a temp file in the same directory (created
// 0600, then given mode), fsync, rename, then a best-effort fsync of the
// directory. Parent directories are created. A symlink at path is followed,
// so its target is replaced, not the link.
func Write(path string, data []byte, mode fs.FileMode) (err error) {
	if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if target, serr := filepath.EvalSymlinks(path); serr == nil {
			path = target
		}
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+TempSuffix+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err = Fill(f, data, mode); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync() // best effort: the rename itself has happened
		d.Close()
	}
	return nil
}

// Fill gives the new temp file f its mode and data, makes them durable and
// closes it: the steps before the rename that every atomic writer shares.
func Fill(f *os.File, data []byte, mode fs.FileMode) error {
	if err := FillOpen(f, data, mode); err != nil {
		return err
	}
	return f.Close()
}

// FillOpen is Fill leaving f open: a file without a name yet (O_TMPFILE)
// is linked into place through its descriptor.
func FillOpen(f *os.File, data []byte, mode fs.FileMode) error {
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

// Leftovers lists the temp files a writer of path killed mid-write left
// behind, for removal once nothing else can be writing.
func Leftovers(path string) []string {
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+TempSuffix+"*"))
	return left
}

// ReadJSON decodes the JSON file at path into v, refusing unknown fields, so
// state written by a newer rackctl is not half-read. A missing file is not
// an error: found is false and v is untouched.
func ReadJSON(path string, v any) (found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return true, fmt.Errorf("parse %s: %w", path, err)
	}
	return true, nil
}
