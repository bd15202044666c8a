package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/web"
)

type serveFlags struct {
	listen         string
	httpTimeout    time.Duration
	statusInterval time.Duration
	web            webFlags
	drivers        engine.DriverConfig
}

// serveReadOnly is what serve's page says in place of the approve action.
const serveReadOnly = "Read-only: rackctl serve runs no watch loop. A held commit is released with the command shown, where watch runs."

func newServeCmd(g *globals) *cobra.Command {
	var sf serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the web view and GET /api/ of a rack that watch does not follow",
		Long: `serve shows the rack of -f in the web view (http://LISTEN/) and serves its
API (docs/api.md) as watch does on its --listen, for a rack without watch. The
spec is read once, at start. Node states are observed in the background every
--status-interval, and the plan the spec would make is computed after each
observation; nothing is applied and nothing approved: the page is read-only.
Keep --listen on loopback, or give it --tls-cert-file and --tls-key-file.
With --fleet-endpoints (web.fleetEndpoints) the page also links a fleet page
(/fleet) of the racks that file lists.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f := cmd.Flag("log-level"); f == nil || !f.Changed {
				g.log = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			return g.runServe(cmd.Context(), &sf)
		},
	}
	f := cmd.Flags()
	f.StringVar(&sf.listen, "listen", "127.0.0.1:9747", "address of the web view and /api/")
	f.DurationVar(&sf.httpTimeout, "http-timeout", defaultHTTPTimeout, "longest time --listen gives one request to arrive whole and its answer to leave")
	f.DurationVar(&sf.statusInterval, "status-interval", api.DefaultInterval, "how often every node is re-read (BMCs, installs, configs) and the plan re-made")
	registerTLSFlags(f, &sf.web)
	registerFleetFlags(f, &sf.web)
	registerDriverFlags(f, &sf.drivers)
	return cmd
}

func (g *globals) runServe(ctx context.Context, sf *serveFlags) error {
	if sf.statusInterval <= 0 {
		return fmt.Errorf("--status-interval %s: want a positive duration", sf.statusInterval)
	}
	if sf.httpTimeout <= 0 {
		return fmt.Errorf("--http-timeout %s: want a positive duration", sf.httpTimeout)
	}
	if sf.listen == "" {
		return fmt.Errorf("--listen is empty: serve needs an address")
	}
	rack, err := g.loadSpec()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := g.apiServer(ctx, nil, func() *schema.Rack { return rack }, sf.statusInterval, &sf.drivers, sf.web)
	if err != nil {
		return err
	}
	fl, err := sf.web.fleet(ctx)
	if err != nil {
		return err
	}
	h, err := rackMux(srv, http.NotFoundHandler(), web.Config{API: srv, ReadOnlyReason: serveReadOnly, Fleet: fl})
	if err != nil {
		return err
	}
	stop, err := serveHTTP(sf.listen, h, sf.httpTimeout, sf.web, g.log)
	if err != nil {
		return err
	}
	defer stop()
	go srv.Run(ctx)
	<-ctx.Done()
	cancel() // end open event streams before the listener waits for them
	return nil
}
