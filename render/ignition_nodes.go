package render

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"sync"

	cjson "github.com/clarketm/json"
	ign30types "github.com/coreos/ignition/v2/config/v3_0/types"
	igntypes "github.com/flatcar/ignition/config/v2_3/types"
	"github.com/vincent-petithory/dataurl"
)

// Transpiling is most of a flatcar render's cost (a CLC is parsed twice and
// validated by reflection), so the work is cut down: configs every node
// shares ("{}" custom files, the installer's base) are transpiled once per
// render, the installer gets the node's final Ignition put in as a data
// URL instead of transpiling a CLC that quotes it (and, unless the node
// adds a public NIC to it, into the base's spec 3.0 translation, so only
// the final config is translated per node), and nodes are handled in
// parallel. Results land by node index, so the output does not depend
// on scheduling.

// installerPlaceholder marks the installer's /opt/ignition.json contents in
// the shared base config.
const installerPlaceholder = "RACKCTL-FINAL-IGNITION"

type nodeIgn struct {
	final, installer []byte
}

type ignitions struct {
	r      *rack
	byPath map[string][]byte
	shared map[string]igntypes.Config // by CLC content, read-only once built
	base   igntypes.Config            // the installer before the node's parts
	base3  ign30types.Config          // base in spec 3.0
	hashes map[string]string          // config hash by node name
	tpls   templates
	// instTpl is the installer of a node without a public NIC, indented,
	// with instToken as its final config's source; nil: none.
	instTpl []byte
	// noTemplates renders every node directly (tests compare both ways).
	noTemplates bool
}

func newIgnitions(r *rack, byPath map[string][]byte, hashes map[string]string) ([]nodeIgn, error) {
	return renderIgnitions(&ignitions{r: r, byPath: byPath, hashes: hashes, shared: map[string]igntypes.Config{}})
}

func renderIgnitions(g *ignitions) ([]nodeIgn, error) {
	r, byPath := g.r, g.byPath
	for _, n := range r.active {
		c := string(byPath[clcCustomPath(n)])
		if _, ok := g.shared[c]; ok || n.PublicIP != "" {
			continue
		}
		cfg, err := transpile([]byte(c))
		if err != nil {
			return nil, fmt.Errorf("render: node %s: %s: %w", n.Name, clcCustomPath(n), err)
		}
		g.shared[c] = cfg
	}
	// Racks give many nodes the same extraCLC: transpile each distinct one
	// once, keyed by its content. One that fails is left out, so that
	// every node using it reports the error as before.
	for _, n := range r.active {
		if n.ExtraCLC == "" {
			continue
		}
		c := string(byPath[clcExtraPath(n)])
		if _, ok := g.shared[c]; ok {
			continue
		}
		if cfg, err := transpile([]byte(c)); err == nil {
			g.shared[c] = cfg
		}
	}
	var err error
	if g.base, err = transpile(installerCLC(r, []byte(installerPlaceholder))); err != nil {
		return nil, fmt.Errorf("render: installer config: %w", err)
	}
	if g.base3, err = toSpec3(g.base); err != nil {
		return nil, fmt.Errorf("render: installer config: %w", err)
	}
	if !g.noTemplates {
		g.instTpl = installerTemplate(g.base3)
	}

	out := make([]nodeIgn, len(r.active))
	errs := make([]error, len(r.active))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(r.active)) {
		wg.Go(func() {
			for i := range next {
				n := r.active[i]
				out[i], errs[i] = g.node(n)
				if errs[i] != nil {
					errs[i] = fmt.Errorf("render: node %s: %w", n.Name, errs[i])
				}
			}
		})
	}
	for i := range r.active {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// dataURL is the data URL holding b, as the installer's
// /opt/ignition.json source.
func dataURL(b []byte) string {
	return (&url.URL{Scheme: "data", Opaque: "," + dataurl.Escape(b)}).String()
}

// merge appends cfgs onto a fresh config, so no shared config's slices are
// ever appended to in place.
func merge(cfgs ...igntypes.Config) igntypes.Config {
	var out igntypes.Config
	for _, c := range cfgs {
		out = appendConfig(out, c)
	}
	if len(cfgs) > 0 {
		out.Ignition.Version = cfgs[0].Ignition.Version
	}
	return out
}

func (g *ignitions) transpileCLC(p string) (igntypes.Config, error) {
	c := g.byPath[p]
	if cfg, ok := g.shared[string(c)]; ok {
		return cfg, nil
	}
	cfg, err := transpile(c)
	if err != nil {
		return igntypes.Config{}, fmt.Errorf("%s: %w", p, err)
	}
	return cfg, nil
}

// node renders the final Ignition (the node's clc_snippets merged) and the
// installer Ignition (the base installer with the final one as
// /opt/ignition.json, plus the node's installer_clc_snippets). Both are
// merged as spec 2.3, as ct_config did, then translated to spec 3.0.
func (g *ignitions) node(n *node) (nodeIgn, error) {
	var custom igntypes.Config
	compact, indented, installer, ok := g.templated(n)
	if !ok {
		var cfgs []igntypes.Config
		for _, p := range n.snippet {
			cfg, err := g.transpileCLC(p)
			if err != nil {
				return nodeIgn{}, err
			}
			if p == clcCustomPath(n) {
				custom = cfg
			}
			cfgs = append(cfgs, cfg)
		}
		final, err := toSpec3(merge(cfgs...))
		if err != nil {
			return nodeIgn{}, err
		}
		if compact, err = ignitionJSON(final, false); err != nil {
			return nodeIgn{}, err
		}
		compact = compact[:len(compact)-1]
	}
	if indented == nil {
		// MarshalIndent is Marshal then Indent: indenting the compact bytes
		// gives the indented file without encoding the config a second time.
		var ind bytes.Buffer
		if err := cjson.Indent(&ind, compact, "", "  "); err != nil {
			return nodeIgn{}, fmt.Errorf("marshal ignition: %w", err)
		}
		indented = ind.Bytes()
	}
	finalJSON := append(indented, '\n')
	if installer != nil {
		return nodeIgn{final: finalJSON, installer: installer}, nil
	}

	src := dataURL(compact)
	var inst3 ign30types.Config
	var err error
	if n.PublicIP == "" && g.instTpl != nil {
		// The installer is the same for every such node but for this
		// string: put it into the installer's JSON made once.
		q, err := cjson.Marshal(src)
		if err != nil {
			return nodeIgn{}, fmt.Errorf("marshal ignition: %w", err)
		}
		return nodeIgn{final: finalJSON, installer: bytes.Replace(g.instTpl, []byte(`"`+instToken+`"`), q, 1)}, nil
	}
	if n.PublicIP == "" {
		// The base installer's translation with the node's final config put
		// in: what translating the node's own 2.3 installer gives, without
		// paying for a translation per node.
		inst3 = g.base3
		inst3.Storage.Files = slices.Clone(g.base3.Storage.Files)
		i := slices.IndexFunc(inst3.Storage.Files, func(f ign30types.File) bool { return f.Path == "/opt/ignition.json" })
		if i < 0 {
			return nodeIgn{}, errors.New("installer config lacks /opt/ignition.json")
		}
		inst3.Storage.Files[i].Contents.Source = &src
	} else {
		inst := g.base
		inst.Storage.Files = slices.Clone(g.base.Storage.Files)
		i := slices.IndexFunc(inst.Storage.Files, func(f igntypes.File) bool { return f.Path == "/opt/ignition.json" })
		if i < 0 {
			return nodeIgn{}, errors.New("installer config lacks /opt/ignition.json")
		}
		inst.Storage.Files[i].Contents.Source = src
		if inst3, err = toSpec3(merge(inst, custom)); err != nil {
			return nodeIgn{}, fmt.Errorf("installer: %w", err)
		}
	}
	instJSON, err := ignitionJSON(inst3, true)
	if err != nil {
		return nodeIgn{}, err
	}
	return nodeIgn{final: finalJSON, installer: instJSON}, nil
}
