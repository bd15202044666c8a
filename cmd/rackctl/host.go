package main

import (
	"io"

	"github.com/rackctl/rackctl/engine"
)

// engine maps the global flags and d (the driver flags; nil for commands
// without them) to the engine's config.
func (g *globals) engine(d *engine.DriverConfig) (*engine.Engine, error) {
	cfg := engine.Config{
		SpecFile:    g.specFile,
		Root:        g.root,
		StateDir:    g.stateDir,
		Timeout:     g.timeout,
		Parallel:    g.parallel,
		Kubeconfig:  g.kubeconfigPath,
		Output:      g.toolOutput(),
		BeforePhase: g.pauseHook(),
		Log:         g.log,
	}
	if d != nil {
		cfg.Drivers = *d
	}
	if g.output == "human" {
		cfg.Human = g.stdout
	}
	return engine.New(cfg)
}

// toolOutput is where terraform's, lokoctl's and the rotation's lines go:
// stdout, or stderr under -o json, which keeps stdout for the result.
func (g *globals) toolOutput() io.Writer {
	if g.output == "json" {
		return g.stderr
	}
	return g.stdout
}

// loadRack loads the spec and places it with the engine (addresses from
// the state dir).
func (g *globals) loadRack() (*engine.Engine, *engine.Rack, error) {
	return g.loadRackWith(nil)
}

// loadRackWith is loadRack with the driver settings d (nil: none).
func (g *globals) loadRackWith(d *engine.DriverConfig) (*engine.Engine, *engine.Rack, error) {
	spec, err := g.loadSpec()
	if err != nil {
		return nil, nil, err
	}
	eng, err := g.engine(d)
	if err != nil {
		return nil, nil, err
	}
	r, err := eng.Rack(spec)
	if err != nil {
		return nil, nil, err
	}
	return eng, r, nil
}
