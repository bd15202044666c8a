package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/cluster"
)

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
			eng, err := g.engine(nil)
			if err != nil {
				return err
			}
			client, err := eng.ClusterClient()
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
