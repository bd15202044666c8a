package schema

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestCredentialFilePaths: bmc.userFile and bmc.passwordFile take an
// absolute path (read beneath --root) or one relative to the spec's
// directory (as the README documents), but never one that climbs out of
// that directory or carries control characters.
func TestCredentialFilePaths(t *testing.T) {
	src, err := os.ReadFile("testdata/good/lokomotive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const userLine = "  userFile: /usr/share/oem/ipmi_user\n"
	if !strings.Contains(string(src), userLine) {
		t.Fatalf("testdata/good/lokomotive.yaml lost its line %q", userLine)
	}
	tests := map[string]struct {
		path    string
		wantErr string
	}{
		"absolute":          {path: "/usr/share/oem/ipmi_user"},
		"relative":          {path: "secrets/ipmi_user"},
		"relative dot":      {path: "./ipmi_user"},
		"dots in a name":    {path: "secrets/..ipmi_user.."},
		"absolute dot-dot":  {path: "/../usr/share/oem/ipmi_user"}, // cleaned as in a chroot
		"parent":            {path: "../ipmi_user", wantErr: "is not a credential file path"},
		"parent inside":     {path: "secrets/../../ipmi_user", wantErr: "is not a credential file path"},
		"only dot-dot":      {path: "..", wantErr: "is not a credential file path"},
		"empty":             {path: "", wantErr: "is not a credential file path"},
		"control character": {path: `"secrets/\tx"`, wantErr: "is not a credential file path"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := tc.path
			if !strings.HasPrefix(p, `"`) {
				p = `"` + p + `"`
			}
			spec := strings.Replace(string(src), userLine, "  userFile: "+p+"\n", 1)
			r, err := Parse("rack.yaml", []byte(spec))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if r.BMC.UserFile != tc.path {
					t.Errorf("userFile = %q, want %q", r.BMC.UserFile, tc.path)
				}
				return
			}
			var diags Errors
			if !errors.As(err, &diags) {
				t.Fatalf("err = %v, want positioned diagnostics", err)
			}
			if len(diags) != 1 || diags[0].Field != "bmc.userFile" || diags[0].Line != 15 || !strings.Contains(diags[0].Message, tc.wantErr) {
				t.Errorf("diagnostics = %v, want one at rack.yaml:15 on bmc.userFile containing %q", diags, tc.wantErr)
			}
		})
	}
}
