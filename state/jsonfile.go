package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/rackctl/rackctl/internal/atomicfile"
)

// readJSON decodes the state file name into v; found is false when the
// file does not exist, which every caller takes as "none yet". Errors
// start with what (the record's name in words) and, for a file that does
// not decode, name the file and end with hint, the operator's way out.
func (d Dir) readJSON(name, what, hint string, v any) (found bool, err error) {
	p := d.File(name)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		if hint != "" {
			return false, fmt.Errorf("%s %s: %w (%s)", what, p, err, hint)
		}
		return false, fmt.Errorf("%s %s: %w", what, p, err)
	}
	return true, nil
}

// writeJSON writes v to the state file name atomically (internal/atomicfile)
// as indented JSON with a final newline, creating the state dir when it is
// missing. Errors start with what, as readJSON's do.
func (d Dir) writeJSON(name, what string, v any, mode os.FileMode) error {
	if err := d.Ensure(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := atomicfile.Write(d.File(name), append(b, '\n'), mode); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
