package bmc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/internal/testenv"
)

// TestReadCredentialsFromNeverQuotes: whatever file a credential path
// reaches, an error names the file and never holds its content.
func TestReadCredentialsFromNeverQuotes(t *testing.T) {
	const secret = "MARKER-not-a-credential"
	tests := map[string]struct {
		user, pass string // file contents; "" = the default
		plant      func(t *testing.T, dir string)
		want       string // in the error
	}{
		"user file holds a long secret":    {user: secret + "-and-more", want: "not an IPMI user name"},
		"user file holds many lines":       {user: "root:" + secret + ":0:0\nbin:x:1:1\n", want: "2 lines"},
		"user file holds a quote":          {user: `a"` + secret[:8], want: "not an IPMI user name"},
		"password file holds a long value": {pass: secret + secret, want: "not an IPMI password"},
		"password file holds lines":        {pass: secret + "\nmore\n", want: "not an IPMI password"},
		"too large":                        {pass: strings.Repeat(secret, 1000), want: "more than the 4096"},
		"link at the password file": {
			plant: func(t *testing.T, dir string) {
				os.Remove(filepath.Join(dir, "root/p"))
				testenv.PlantLink(t, filepath.Join(dir, "outside"), filepath.Join(dir, "root/p"))
			},
			want: "symbolic link",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			user, pass := tc.user, tc.pass
			if user == "" {
				user = "admin\n"
			}
			if pass == "" {
				pass = "pw\n"
			}
			for p, c := range map[string]string{"root/u": user, "root/p": pass, "outside": secret + "\n"} {
				os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
				if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tc.plant != nil {
				tc.plant(t, dir)
			}
			root, err := rootfs.New(filepath.Join(dir, "root"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ReadCredentialsFrom(SecretFile{Root: root, Rel: "u", Field: "bmc.userFile", Name: "/u"},
				SecretFile{Root: root, Rel: "p", Field: "bmc.passwordFile", Name: "/p"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret[:8]) {
				t.Errorf("error quotes the file: %v", err)
			}
			if tc.plant != nil && !errors.Is(err, rootfs.ErrLink) {
				t.Errorf("err = %v, want a refused link", err)
			}
		})
	}
}
