package render

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"sync"

	cjson "github.com/clarketm/json"
	ign30types "github.com/coreos/ignition/v2/config/v3_0/types"
	igntypes "github.com/flatcar/ignition/config/v2_3/types"
	"github.com/vincent-petithory/dataurl"
)

// Most nodes of a rack differ in their own CLC only by their MAC, address
// and config hash, which Ignition carries as opaque text inside data URLs.
// So a node's final Ignition is made from a template: its CLC with those
// values replaced by tokens is transpiled, merged and translated once per
// distinct template (and set of later snippets), and each node gets the
// template's JSON with the tokens replaced by its values, escaped as a
// data URL escapes them. The result is byte-identical to transpiling the
// node's own CLC because
//   - the template with the values put back must equal the node's CLC
//     exactly (checked per node), so the template's key holds everything
//     else the node's config is made of;
//   - every token must come out of the translation inside a data URL and as
//     often as it went in (checked once per template), where the ct and
//     networkd conversions escape byte by byte (dataurl.Escape), so
//     escaping a value in place equals escaping the text around it;
//   - tokens use unreserved characters only, which escaping leaves alone.
// Anything else (a token met in plain JSON text, a CLC that already holds
// the token prefix, a node with a public NIC) takes the direct path.

// tplPrefix starts every token; a CLC that contains it is never templated.
const tplPrefix = "RACKCTLTPL"

// tplTokens stand for the node's config hash, MAC and address, in the
// order they are replaced (the longest value first).
var tplTokens = [...]string{tplPrefix + "HASHX", tplPrefix + "MACXX", tplPrefix + "ADDRX"}

// tplResult is the spec 3.0 JSON of one template, compact and indented,
// without the final line break; ok is false when the template cannot be
// used. Indenting leaves strings alone, so filling the tokens into the
// indented JSON equals indenting the filled compact one.
//
// installer is the installer's JSON (instTpl) with the compact JSON put in
// as its data URL, tokens and all; nil when there is no instTpl. A node's
// installer is it with the tokens replaced by the node's values escaped
// twice (once for the final config's data URL, once for the installer's):
// data URL escaping maps byte by byte and leaves the tokens alone, and
// JSON leaves escaped text alone, so this equals escaping and quoting the
// node's own compact JSON, without doing that per node.
type tplResult struct {
	once                      sync.Once
	json, indented, installer []byte
	ok                        bool
}

// templates caches tplResults by template key for one render.
type templates struct {
	m sync.Map // string → *tplResult
}

// nodeTemplate is node n's CLC with its values replaced by tplTokens, and
// those values; ok is false when the template would not give back the
// CLC exactly or the node's snippets contain the token prefix.
func nodeTemplate(clc []byte, hash, mac, addr string, later [][]byte) (tpl []byte, values [len(tplTokens)]string, ok bool) {
	if hash == "" || mac == "" || addr == "" || bytes.Contains(clc, []byte(tplPrefix)) {
		return nil, values, false
	}
	for _, l := range later {
		if bytes.Contains(l, []byte(tplPrefix)) {
			return nil, values, false
		}
	}
	values = [len(tplTokens)]string{hash, mac, addr}
	s := string(clc)
	for i, v := range values {
		s = strings.ReplaceAll(s, v, tplTokens[i])
	}
	// A value that occurs inside another one (an address that starts the
	// gateway's) is still put back where it was taken from: the check is
	// that the round trip is exact, not that each value was found once.
	if !bytes.Equal(fillTokens([]byte(s), values, 0), clc) {
		return nil, values, false
	}
	return []byte(s), values, true
}

// fillTokens replaces the tokens of s by values, escaped for a data URL
// escape times. It runs three times per node on kilobytes: a scan for the
// prefix, not a strings.Replacer built per call. The result is sized
// exactly (one byte spare for the line break a file ends with), since
// escaped values make it longer than s and growing it would copy it.
func fillTokens(s []byte, values [len(tplTokens)]string, escape int) []byte {
	for range escape {
		for i, v := range values {
			values[i] = dataurl.EscapeString(v)
		}
	}
	size := len(s)
	eachToken(s, func(_ []byte, k int) {
		if k >= 0 {
			size += len(values[k]) - len(tplTokens[k])
		}
	})
	out := make([]byte, 0, size+1)
	eachToken(s, func(text []byte, k int) {
		out = append(out, text...)
		if k >= 0 {
			out = append(out, values[k]...)
		}
	})
	return out
}

// eachToken calls do with each stretch of s up to a token and the token's
// index in tplTokens, and last with the rest of s and -1. The token prefix
// not followed by a whole token is text.
func eachToken(s []byte, do func(text []byte, k int)) {
	prefix := []byte(tplPrefix)
	for off := 0; ; {
		i := bytes.Index(s[off:], prefix)
		if i < 0 {
			do(s, -1)
			return
		}
		at := off + i
		k := slices.IndexFunc(tplTokens[:], func(t string) bool { return bytes.HasPrefix(s[at:], []byte(t)) })
		if k < 0 {
			off = at + len(prefix)
			continue
		}
		do(s[:at], k)
		s, off = s[at+len(tplTokens[k]):], 0
	}
}

// tokensInDataURLs tells whether the compact JSON holds as many tokens as
// the template did, each within a data URL's text: the only context where
// fillTokens' escaping is the one the translation would have applied.
func tokensInDataURLs(js []byte, want int) bool {
	got := 0
	for i := 0; ; {
		j := bytes.Index(js[i:], []byte(tplPrefix))
		if j < 0 {
			break
		}
		at := i + j
		// The JSON string holding the token starts after the last
		// unescaped quote before it; it must be a data URL. Data URLs
		// escape '"' and '\\', so none lies between.
		q := bytes.LastIndexByte(js[:at], '"')
		if q < 0 || (q > 0 && js[q-1] == '\\') || !bytes.HasPrefix(js[q+1:], []byte("data:,")) ||
			bytes.ContainsAny(js[q+1:at], "\\") {
			return false
		}
		got++
		i = at + len(tplPrefix)
	}
	return got == want
}

// templated is node n's final Ignition (compact and indented, no final
// line break) made from its template, and its installer when the template
// has one (see tplResult); false when n must be rendered directly.
func (g *ignitions) templated(n *node) (compact, indented, installer []byte, ok bool) {
	if g.noTemplates || n.PublicIP != "" || len(n.snippet) == 0 || n.snippet[0] != clcPath(n) {
		return nil, nil, nil, false
	}
	later := make([][]byte, 0, len(n.snippet)-1)
	var key strings.Builder
	for _, p := range n.snippet[1:] {
		later = append(later, g.byPath[p])
		// Length-prefixed, so no two lists of snippets share a key.
		key.WriteString(strconv.Itoa(len(g.byPath[p])) + ":")
		key.Write(g.byPath[p])
	}
	tpl, values, ok := nodeTemplate(g.byPath[clcPath(n)], g.hashes[n.Name], n.MAC, n.ip.String(), later)
	if !ok {
		return nil, nil, nil, false
	}
	key.Write(tpl)
	e, _ := g.tpls.m.LoadOrStore(key.String(), &tplResult{})
	r := e.(*tplResult)
	r.once.Do(func() {
		if r.json, r.ok = g.renderTemplate(tpl, n.snippet[1:]); r.ok {
			var ind bytes.Buffer
			r.ok = cjson.Indent(&ind, r.json, "", "  ") == nil
			r.indented = ind.Bytes()
			r.installer, r.ok = g.installerOf(r.json)
		}
	})
	if !r.ok {
		return nil, nil, nil, false
	}
	compact, indented = fillTokens(r.json, values, 1), fillTokens(r.indented, values, 1)
	if r.installer != nil {
		installer = fillTokens(r.installer, values, 2)
	}
	return compact, indented, installer, true
}

// installerOf is instTpl with the compact final config as its data URL,
// quoted as node() quotes it; nil without an instTpl.
func (g *ignitions) installerOf(compact []byte) ([]byte, bool) {
	if g.instTpl == nil {
		return nil, true
	}
	q, err := cjson.Marshal(dataURL(compact))
	if err != nil {
		return nil, false
	}
	return bytes.Replace(g.instTpl, []byte(`"`+instToken+`"`), q, 1), true
}

// instToken stands for the final config in the installer template.
const instToken = tplPrefix + "INSTALLERX"

// installerTemplate is the indented JSON of base3 with instToken as the
// source of /opt/ignition.json; nil when that is not exactly one JSON
// string of the output.
func installerTemplate(base3 ign30types.Config) []byte {
	inst := base3
	inst.Storage.Files = slices.Clone(base3.Storage.Files)
	i := slices.IndexFunc(inst.Storage.Files, func(f ign30types.File) bool { return f.Path == "/opt/ignition.json" })
	if i < 0 {
		return nil
	}
	tok := instToken
	inst.Storage.Files[i].Contents.Source = &tok
	js, err := ignitionJSON(inst, true)
	if err != nil || bytes.Count(js, []byte(tplPrefix)) != 1 || bytes.Count(js, []byte(`"`+instToken+`"`)) != 1 {
		return nil
	}
	return js
}

// renderTemplate transpiles, merges and translates a template as node()
// does a node's own CLC; false on any error (the direct path reports it)
// or when a token left the data URLs.
func (g *ignitions) renderTemplate(tpl []byte, later []string) ([]byte, bool) {
	cfg, err := transpile(tpl)
	if err != nil {
		return nil, false
	}
	cfgs := []igntypes.Config{cfg}
	for _, p := range later {
		c, err := g.transpileCLC(p)
		if err != nil {
			return nil, false
		}
		cfgs = append(cfgs, c)
	}
	final, err := toSpec3(merge(cfgs...))
	if err != nil {
		return nil, false
	}
	js, err := ignitionJSON(final, false)
	if err != nil {
		return nil, false
	}
	js = js[:len(js)-1]
	if !tokensInDataURLs(js, bytes.Count(tpl, []byte(tplPrefix))) {
		return nil, false
	}
	return js, true
}
