package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
