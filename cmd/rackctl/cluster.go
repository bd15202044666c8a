package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/cluster"
	"github.com/rackctl/rackctl/schema"
)

// kubeconfig is --kubeconfig, or Lokomotive's assets kubeconfig under
// --root when it exists, or $KUBECONFIG.
func (g *globals) kubeconfig() string {
	if g.kubeconfigPath != "" {
		return g.kubeconfigPath
	}
	return cluster.DefaultKubeconfig(g.root, g.layout().LokomotiveDir)
}

func (g *globals) clusterClient() (*cluster.Client, error) {
	kc := g.kubeconfig()
	if kc == "" {
		return nil, fmt.Errorf("%w: pass --kubeconfig or set KUBECONFIG", cluster.ErrNoKubeconfig)
	}
	return cluster.New(cluster.Config{Kubeconfig: kc, Timeout: g.timeout, Log: g.log})
}

// clusterState fills the API line of st and returns, per node, whether it
// joined the cluster ("yes", "no", "unknown", or "n/a" on plain Flatcar).
func (e *rackEnv) clusterState(ctx context.Context, st *rackStatus) func(*schema.Node) string {
	if e.rack.Provisioner == schema.Flatcar {
		return func(*schema.Node) string { return "n/a" }
	}
	unknown := func(*schema.Node) string { return "unknown" }
	client, err := e.g.clusterClient()
	if err != nil {
		st.APIReached, st.APIReason = "unknown", err.Error()
		return unknown
	}
	var names []string
	for _, n := range e.rack.ActiveNodes() {
		names = append(names, e.rack.FQDN(n))
	}
	cs, err := client.Status(ctx, names)
	switch {
	case err != nil && !cs.Reached:
		st.APIReached, st.APIReason = "no", err.Error()
		return unknown
	case !cs.Reached:
		st.APIReached, st.APIReason = "no", cs.Reason
		return unknown
	case err != nil:
		st.APIReached, st.APIReason = "yes", err.Error()
		return unknown
	}
	st.APIReached = "yes"
	st.ServerVersion = cs.ServerVersion
	return func(n *schema.Node) string {
		ns, ok := cs.Nodes[e.rack.FQDN(n)]
		if !ok {
			return "n/a"
		}
		st.setNodeVersions(n.Name, ns)
		switch {
		case ns.Joined && ns.Ready:
			return "yes"
		case ns.Joined:
			return "not ready"
		}
		return "no"
	}
}

func newUITokenCmd(g *globals) *cobra.Command {
	var opts cluster.TokenOptions
	cmd := &cobra.Command{
		Use:   "ui-token",
		Short: "Print a token for the Lokomotive Web UI (headlamp-admin)",
		Long: `ui-token ensures a headlamp-admin service account in kube-system bound to
cluster-admin and prints a token for it (TokenRequest; --long-lived makes a
service-account-token Secret instead). Idempotent: an existing account and
binding are reused; a binding of that name pointing elsewhere is an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := g.clusterClient()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout+opts.SecretWait+10*time.Second)
			defer cancel()
			token, err := client.UIToken(ctx, opts)
			if err != nil {
				if errors.Is(err, cluster.ErrForeignObject) {
					return fmt.Errorf("%w (rackctl leaves objects it did not create alone)", err)
				}
				return err
			}
			fmt.Fprintln(g.stdout, token)
			fmt.Fprintf(g.stderr, "\nOpen the Web UI:\n  %s\n  %s   (from your workstation)\n  then browse %s and paste the token.\n",
				cluster.PortForwardHint, cluster.SSHTunnelHint, cluster.UIURL)
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.LongLived, "long-lived", false, "create a long-lived Secret token instead of a TokenRequest")
	cmd.Flags().DurationVar(&opts.Expiration, "expiration", cluster.DefaultTokenExpiration, "lifetime of a TokenRequest token")
	cmd.Flags().DurationVar(&opts.SecretWait, "secret-wait", cluster.DefaultSecretWait, "how long to wait for the token controller to fill a long-lived Secret")
	return cmd
}

// clusterVerifier waits until a freshly installed node joined the cluster
// and is Ready, printing its progress.
type clusterVerifier struct {
	g       *globals
	client  *cluster.Client
	timeout time.Duration
}

func (v *clusterVerifier) Verify(ctx context.Context, node string) error {
	notReady, err := v.client.WaitReady(ctx, []string{node}, cluster.WaitOptions{
		Timeout: v.timeout,
		Progress: func(name string, st cluster.NodeStatus) {
			state := "not joined"
			switch {
			case st.Ready:
				state = "Ready"
			case st.Joined:
				state = "joined, not Ready"
			}
			v.g.log.Info("waiting for node", "node", name, "state", state)
			if v.g.output == "human" {
				fmt.Fprintf(v.g.stdout, "verify: %s: %s\n", name, state)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready after %s: %w", node, v.timeout, err)
	}
	if len(notReady) > 0 {
		return fmt.Errorf("node %s not Ready after %s", node, v.timeout)
	}
	return nil
}
