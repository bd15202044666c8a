package fleet

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/rackctl/rackctl/internal/inputlimit"
	"github.com/rackctl/rackctl/schema"
)

//go:embed endpoints.cue
var endpointsCUE []byte

// MaxEndpointsSize bounds the endpoints file.
const MaxEndpointsSize = 1 << 20

// Endpoint is where one rack's watch serves its API.
type Endpoint struct {
	Name string `json:"name"`
	URL  string `json:"url"` // the listener's base URL
}

// StatusURL is the rack's GET /api/status.
func (e Endpoint) StatusURL() string { return strings.TrimRight(e.URL, "/") + "/api/status" }

// LoadEndpoints reads and validates an endpoints file (YAML or JSON). An
// invalid file gives schema.Errors, every problem positioned.
func LoadEndpoints(ctx context.Context, path string) ([]Endpoint, error) {
	src, err := inputlimit.ReadFile(ctx, path, MaxEndpointsSize)
	if err != nil {
		if errors.Is(err, inputlimit.ErrTooLarge) || errors.Is(err, inputlimit.ErrNotRegular) {
			return nil, fmt.Errorf("read endpoints: %w; give a regular file of at most %d MiB", err, MaxEndpointsSize>>20)
		}
		return nil, fmt.Errorf("read endpoints: %w", err)
	}
	return ParseEndpoints(path, src)
}

// ParseEndpoints validates src, the content of filename: the schema
// (endpoints.cue), then unique names and URLs a client can use.
func ParseEndpoints(filename string, src []byte) ([]Endpoint, error) {
	doc, err := schema.ParseDocument(filename, src, "endpoints.cue", endpointsCUE, "#Endpoints")
	if err != nil {
		return nil, err
	}
	var file struct {
		Racks []Endpoint `json:"racks"`
	}
	if err := doc.Value.Decode(&file); err != nil {
		return nil, fmt.Errorf("endpoints %s: decode: %w", filename, err)
	}
	if len(file.Racks) == 0 {
		return nil, schema.Errors{doc.Diagnostic("racks", "is empty: list at least one rack (racks: [{name: ..., url: ...}])")}
	}
	var diags schema.Errors
	seen := map[string]int{}
	for i, e := range file.Racks {
		at := fmt.Sprintf("racks[%d]", i)
		if first, dup := seen[e.Name]; dup {
			d := doc.Diagnostic(fmt.Sprintf("racks[%d].name", first), "")
			diags = append(diags, doc.Diagnostic(at+".name", fmt.Sprintf("duplicate rack %q (also racks[%d], line %d)", e.Name, first, d.Line)))
		} else {
			seen[e.Name] = i
		}
		if msg := urlProblem(e.URL); msg != "" {
			diags = append(diags, doc.Diagnostic(at+".url", msg))
		}
	}
	if len(diags) > 0 {
		return nil, diags
	}
	return file.Racks, nil
}

// urlProblem says what is wrong with a rack's base URL, "" when nothing.
func urlProblem(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a URL (want e.g. http://10.1.0.2:9747)"
	case u.Host == "":
		return "has no host (want e.g. http://10.1.0.2:9747)"
	case u.User != nil:
		return "holds credentials: the API needs none, and the file is not a place for secrets"
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#"):
		return "has a query or fragment: give the listener's base URL; /api/status is added"
	}
	return ""
}
