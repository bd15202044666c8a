package schema

import "context"

// Located is a valid spec with the position of each of its values, for
// checks made across several specs (package fleet) that must still point
// into the user's YAML.
type Located struct {
	Rack *Rack
	ix   *index
}

// LoadLocated is LoadContext, keeping the positions.
func LoadLocated(ctx context.Context, path string) (*Located, error) {
	src, err := readSpec(ctx, path)
	if err != nil {
		return nil, err
	}
	return ParseLocated(path, src)
}

// ParseLocated is Parse, keeping the positions.
func ParseLocated(filename string, src []byte) (*Located, error) {
	if errs := precheck(filename, src); errs != nil {
		return nil, errs
	}
	var ix *index
	r, err := recovered(filename, func() (*Rack, error) {
		r, i, err := parseIndexed(filename, src)
		ix = i
		return r, err
	})
	if err != nil {
		return nil, err
	}
	return &Located{Rack: r, ix: ix}, nil
}

// At positions msg at path ("nodes[2].mac"), or at its nearest ancestor
// present in the file.
func (l *Located) At(path, msg string) Diagnostic { return l.ix.diagnostic(path, msg) }
