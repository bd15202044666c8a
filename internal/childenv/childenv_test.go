package childenv

import (
	"slices"
	"strings"
	"testing"
)

func TestFilter(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin", "HOME=/root", "LC_ALL=C", "https_proxy=http://proxy:3128",
		"RACKCTL_BMC_PASSWORD=hunter2", "RACKCTL_BMC_USER=admin", "RACKCTL_WEBHOOK_SECRET=s",
		"RACKCTL_GIT_TOKEN=t", "RACKCTL_LOKOCTL_RECORD=/tmp/rec",
		"TF_CLI_CONFIG_FILE=/etc/tfrc", "TF_VAR_x=1", "KUBECONFIG=/kc", "SSH_AUTH_SOCK=/agent",
		"DOCKER_HOST=unix:///d.sock", "AWS_SECRET_ACCESS_KEY=aws", "GIT_ASKPASS=/x", "EDITOR=vi", "=weird", "NOEQUALS",
	}
	tests := map[string]struct {
		policy Policy
		pass   []string
		want   []string
	}{
		"terraform": {
			policy: Terraform,
			want:   []string{"PATH", "HOME", "LC_ALL", "https_proxy", "TF_CLI_CONFIG_FILE", "TF_VAR_x"},
		},
		"lokoctl": {
			policy: Lokoctl,
			want:   []string{"PATH", "HOME", "LC_ALL", "https_proxy", "TF_CLI_CONFIG_FILE", "TF_VAR_x", "KUBECONFIG", "SSH_AUTH_SOCK"},
		},
		"dhcp": {
			policy: DHCP,
			want:   []string{"PATH", "HOME", "LC_ALL", "https_proxy", "DOCKER_HOST"},
		},
		"ssh proxy": {
			policy: SSHProxy,
			want:   []string{"PATH", "HOME", "LC_ALL", "https_proxy", "SSH_AUTH_SOCK"},
		},
		"pass-through by name, secrets still dropped": {
			policy: DHCP,
			pass:   []string{"RACKCTL_LOKOCTL_RECORD", "EDITOR", "RACKCTL_BMC_PASSWORD"},
			want:   []string{"PATH", "HOME", "LC_ALL", "https_proxy", "RACKCTL_LOKOCTL_RECORD", "DOCKER_HOST", "EDITOR"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := tc.policy.Filter(environ, tc.pass)
			var names []string
			for _, kv := range got {
				n, _, _ := strings.Cut(kv, "=")
				names = append(names, n)
			}
			slices.Sort(names)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Fatalf("passed on %v, want %v", names, want)
			}
			if strings.Contains(strings.Join(got, "\n"), "hunter2") {
				t.Fatal("the BMC password reached a child's environment")
			}
		})
	}
}

func TestSecretAndCheckPass(t *testing.T) {
	tests := map[string]struct {
		name    string
		secret  bool
		passErr bool
	}{
		"bmc password":      {name: "RACKCTL_BMC_PASSWORD", secret: true, passErr: true},
		"bmc user":          {name: "RACKCTL_BMC_USER", secret: true, passErr: true},
		"lowercase":         {name: "rackctl_bmc_password", secret: true, passErr: true},
		"webhook secret":    {name: "RACKCTL_WEBHOOK_SECRET", secret: true, passErr: true},
		"git token":         {name: "RACKCTL_GIT_TOKEN", secret: true, passErr: true},
		"test record path":  {name: "RACKCTL_LOKOCTL_RECORD"},
		"another program's": {name: "AWS_SECRET_ACCESS_KEY"},
		"empty":             {name: "", passErr: true},
		"assignment":        {name: "A=b", passErr: true},
		"space":             {name: "A B", passErr: true},
		"ordinary":          {name: "KUBECONFIG"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Secret(tc.name); got != tc.secret {
				t.Errorf("Secret(%q) = %v, want %v", tc.name, got, tc.secret)
			}
			if err := CheckPass([]string{"PATH", tc.name}); (err != nil) != tc.passErr {
				t.Errorf("CheckPass(%q) = %v, want error %v", tc.name, err, tc.passErr)
			}
		})
	}
}
