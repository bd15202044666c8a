package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/cluster"
	"github.com/rackctl/rackctl/internal/termtext"
	"github.com/rackctl/rackctl/schema"
)

// nodeStatus is one row of `rackctl status`.
type nodeStatus struct {
	Name        string   `json:"name"`
	Role        string   `json:"role"`
	MAC         string   `json:"mac"`
	BMCMAC      string   `json:"bmcMac"`
	BMCAddress  string   `json:"bmcAddress"`
	IP          string   `json:"ip"`
	Excluded    bool     `json:"excluded,omitempty"`
	BMCReached  bool     `json:"bmcReached"`
	BMCError    string   `json:"bmcError,omitempty"`
	Power       string   `json:"power,omitempty"`
	Provisioned bool     `json:"provisioned"`
	Joined      string   `json:"joined"` // yes | no | unknown
	Hostnames   []string `json:"hostnames"`
	Kubelet     string   `json:"kubeletVersion,omitempty"`
	OSImage     string   `json:"osImage,omitempty"`
	OSVersion   string   `json:"osVersion,omitempty"`
	Diag        *diag    `json:"diag,omitempty"`
}

type diag struct {
	ChassisStatus string `json:"chassisStatus,omitempty"`
	BootParam5    string `json:"bootParam5,omitempty"`
	Error         string `json:"error,omitempty"`
}

type rackStatus struct {
	Rack          string       `json:"rack"`
	Provisioner   string       `json:"provisioner"`
	APIReached    string       `json:"kubernetesAPIReached"` // yes | no | unknown | n/a
	APIReason     string       `json:"kubernetesAPIReason,omitempty"`
	ServerVersion string       `json:"kubernetesVersion,omitempty"`
	Nodes         []nodeStatus `json:"nodes"`

	versions map[string]cluster.NodeStatus
}

func (st *rackStatus) setNodeVersions(node string, ns cluster.NodeStatus) {
	if st.versions == nil {
		st.versions = map[string]cluster.NodeStatus{}
	}
	st.versions[node] = ns
}

func newStatusCmd(g *globals) *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every node's BMC, power, provisioning and cluster state",
		Long: `status replaces 'racker status': it queries every BMC in parallel (a dead
BMC costs one --timeout and shows × with the reason), checks the provisioner's
flag files and the cluster, and prints one row per node. --full adds each
node's chassis status and boot flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := g.loadEnv()
			if err != nil {
				return err
			}
			st, err := env.status(cmd.Context(), full)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, newStatusView(st))
			}
			return writeStatus(g, st, full)
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "add each node's chassis status and boot parameters")
	return cmd
}

func (e *rackEnv) status(ctx context.Context, full bool) (*rackStatus, error) {
	client, err := e.bmcClient()
	if err != nil {
		return nil, err
	}
	nodes := e.allNodes()
	targets := e.targets(nodes)
	power := client.Runner().PowerStates(ctx, targets)
	var diags map[string]bmc.Result[bmc.DiagReport]
	if full {
		diags = bmc.ForEach(ctx, e.g.parallel, targets, func(ctx context.Context, t bmc.Target) (bmc.DiagReport, error) {
			r := client.Diag(ctx, t)
			return r, r.Err
		})
	}
	st := &rackStatus{Rack: e.rack.Name, Provisioner: string(e.rack.Provisioner), APIReached: "unknown"}
	if e.rack.Provisioner == schema.Flatcar {
		st.APIReached = "n/a"
	}
	joined := e.clusterState(ctx, st)
	for _, n := range nodes {
		row := nodeStatus{
			Name: n.Name, Role: n.Role, MAC: n.MAC, BMCMAC: n.BMCMAC,
			BMCAddress: e.bmcAddress(n), IP: e.addrs[n.Name].Primary.String(),
			Excluded: n.Exclude, Provisioned: e.provisioned(n), Joined: joined(n),
			Hostnames: e.hostnames(n),
		}
		if v, ok := st.versions[n.Name]; ok {
			row.Kubelet, row.OSImage, row.OSVersion = v.KubeletVersion, v.OSImage, v.OSVersion
		}
		if r := power[n.Name]; r.Err != nil {
			row.BMCError = r.Err.Error()
		} else {
			row.BMCReached, row.Power = true, r.Value
		}
		if full {
			d := diags[n.Name].Value
			row.Diag = &diag{ChassisStatus: d.ChassisStatus, BootParam5: d.BootParam5, Error: errString(d.Err)}
		}
		st.Nodes = append(st.Nodes, row)
	}
	return st, nil
}

// hostnames are the names the node answers to in the hosts block.
func (e *rackEnv) hostnames(n *schema.Node) []string {
	names := []string{e.rack.FQDN(n), n.Name}
	if n.Role == schema.RoleController && e.rack.Cluster.APIServerName != "" {
		names = append(names, e.rack.Cluster.APIServerName)
	}
	return names
}

func writeStatus(g *globals, st *rackStatus, full bool) error {
	fmt.Fprintf(g.stdout, "Rack %s, provisioner %s\n", st.Rack, st.Provisioner)
	reached := st.APIReached
	if st.ServerVersion != "" {
		// The API server's own word, like the kubelet versions below.
		reached += ", control plane " + termtext.Cell(st.ServerVersion)
	}
	if st.APIReason != "" {
		reached += " (" + termtext.Escape(st.APIReason) + ")"
	}
	fmt.Fprintf(g.stdout, "Kubernetes API reached: %s\n\n", reached)
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPRIMARY MAC\tIP\tBMC\tPOWER\tOS PROVISIONED\tJOINED\tKUBELET\tHOSTNAMES")
	var problems []string
	for _, n := range st.Nodes {
		name := termtext.Cell(n.Name)
		if n.Excluded {
			name += " (excluded)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, n.MAC, n.IP, mark(n.BMCReached), orDash(n.Power),
			mark(n.Provisioned), termtext.Cell(n.Joined), termtext.Cell(orDash(n.Kubelet)), termtext.Cell(strings.Join(n.Hostnames, " ")))
		if n.BMCError != "" {
			problems = append(problems, fmt.Sprintf("  %s: %s", n.Name, termtext.Escape(n.BMCError)))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		fmt.Fprintf(g.stdout, "\nBMCs not reached:\n%s\n", strings.Join(problems, "\n"))
	}
	if full {
		for _, n := range st.Nodes {
			fmt.Fprintf(g.stdout, "\n=== %s (BMC %s at %s)\n", n.Name, n.BMCMAC, n.BMCAddress)
			if n.OSVersion != "" || n.Kubelet != "" {
				// The cluster API's answers are the nodes' own words.
				fmt.Fprintf(g.stdout, "OS: %s (Flatcar %s), kubelet %s\n", termtext.Escape(orDash(n.OSImage)), termtext.Escape(orDash(n.OSVersion)), termtext.Escape(orDash(n.Kubelet)))
			}
			if n.Diag.Error != "" {
				fmt.Fprintf(g.stdout, "error: %s\n", termtext.Escape(n.Diag.Error))
			}
			// A BMC's replies are untrusted text: no raw control codes.
			fmt.Fprint(g.stdout, termtext.Lines(n.Diag.ChassisStatus), termtext.Lines(n.Diag.BootParam5))
		}
	}
	return nil
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "×"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
