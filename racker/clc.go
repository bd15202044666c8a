package racker

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// unitFile is a networkd or systemd unit's contents split into sections.
type unitFile struct {
	line    int // of the list item in the CLC
	name    string
	content string
}

// get returns the values of key in section, in order.
func (u unitFile) get(section, key string) []string {
	var out []string
	cur := ""
	for _, l := range strings.Split(u.content, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
			cur = l[1 : len(l)-1]
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if ok && cur == section && strings.TrimSpace(k) == key {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func (u unitFile) first(section, key string) string {
	if v := u.get(section, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// clcDoc is a parsed Container Linux Config: the parts rackctl renders,
// picked out by name, and everything else kept as YAML nodes.
type clcDoc struct {
	networkd map[string]unitFile
	systemd  map[string]unitFile
	files    map[string]int // storage file path → line
	// extra is a CLC holding only what rackctl does not render, nil if none.
	extra *yaml.Node
	// extraWhat lists the extra items for the report.
	extraWhat []string
}

// Parts of a CLC rackctl renders (render/clc.go), by section.
var (
	renderedNetworkd = map[string]bool{"10-priv-stable.network": true, "10-resolve.netdev": true, "10-resolve.network": true, "10-public-stable.network": true}
	renderedSystemd  = map[string]bool{"boot-workaround-efi-disk-persist.service": true, "locksmithd.service": true}
	renderedFiles    = map[string]bool{"/etc/hosts": true, "/etc/systemd/resolved.conf.d/10-resolve-listener.conf": true, "/etc/flatcar/update.conf": true}
)

// parseCLC reads a CLC. An empty file (Racker wrote "\n" for nodes without
// a public IP) is an empty config.
func parseCLC(src []byte) (*clcDoc, error) {
	d := &clcDoc{networkd: map[string]unitFile{}, systemd: map[string]unitFile{}, files: map[string]int{}}
	doc, err := parseYAMLSafe(src)
	if err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return d, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return d, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping at the top", root.Line)
	}
	extra := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		var keep *yaml.Node
		switch k.Value {
		case "networkd", "systemd":
			keep = d.units(k.Value, v)
		case "storage":
			keep = d.storage(v)
		default:
			keep = v
			d.extraWhat = append(d.extraWhat, fmt.Sprintf("%s (line %d)", k.Value, k.Line))
		}
		if keep != nil {
			extra.Content = append(extra.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k.Value}, keep)
		}
	}
	if len(extra.Content) > 0 {
		d.extra = extra
	}
	return d, nil
}

// units picks the rendered units out of networkd/systemd; the rest is
// returned as the section's extra part (nil if none).
func (d *clcDoc) units(section string, v *yaml.Node) *yaml.Node {
	if v.Kind != yaml.MappingNode {
		d.extraWhat = append(d.extraWhat, fmt.Sprintf("%s (line %d)", section, v.Line))
		return v
	}
	rest := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, list := v.Content[i], v.Content[i+1]
		if k.Value != "units" || list.Kind != yaml.SequenceNode {
			rest.Content = append(rest.Content, k, list)
			d.extraWhat = append(d.extraWhat, fmt.Sprintf("%s.%s (line %d)", section, k.Value, k.Line))
			continue
		}
		var other []*yaml.Node
		for _, item := range list.Content {
			u := unitFile{line: item.Line, name: mapValue(item, "name"), content: mapValue(item, "contents")}
			known := renderedNetworkd
			target := d.networkd
			if section == "systemd" {
				known, target = renderedSystemd, d.systemd
			}
			if known[u.name] && onlyKeys(item, "name", "contents", "enabled", "mask") {
				target[u.name] = u
				continue
			}
			other = append(other, item)
			d.extraWhat = append(d.extraWhat, fmt.Sprintf("%s unit %s (line %d)", section, u.name, item.Line))
		}
		if len(other) > 0 {
			rest.Content = append(rest.Content, k, &yaml.Node{Kind: yaml.SequenceNode, Content: other})
		}
	}
	if len(rest.Content) == 0 {
		return nil
	}
	return rest
}

func (d *clcDoc) storage(v *yaml.Node) *yaml.Node {
	if v.Kind != yaml.MappingNode {
		d.extraWhat = append(d.extraWhat, fmt.Sprintf("storage (line %d)", v.Line))
		return v
	}
	rest := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, list := v.Content[i], v.Content[i+1]
		if k.Value != "files" || list.Kind != yaml.SequenceNode {
			rest.Content = append(rest.Content, k, list)
			d.extraWhat = append(d.extraWhat, fmt.Sprintf("storage.%s (line %d)", k.Value, k.Line))
			continue
		}
		var other []*yaml.Node
		for _, item := range list.Content {
			p := mapValue(item, "path")
			if renderedFiles[p] {
				d.files[p] = item.Line
				continue
			}
			other = append(other, item)
			d.extraWhat = append(d.extraWhat, fmt.Sprintf("storage file %s (line %d)", p, item.Line))
		}
		if len(other) > 0 {
			rest.Content = append(rest.Content, k, &yaml.Node{Kind: yaml.SequenceNode, Content: other})
		}
	}
	if len(rest.Content) == 0 {
		return nil
	}
	return rest
}

func mapValue(m *yaml.Node, key string) string {
	if m.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.ScalarNode {
			return m.Content[i+1].Value
		}
	}
	return ""
}

func onlyKeys(m *yaml.Node, keys ...string) bool {
	if m.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i < len(m.Content); i += 2 {
		ok := false
		for _, k := range keys {
			if m.Content[i].Value == k {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// mergeExtra joins the extra parts of a node's CLC files into one config
// (the node's extraCLC), section by section.
func mergeExtra(parts ...*yaml.Node) *yaml.Node {
	out := &yaml.Node{Kind: yaml.MappingNode}
	for _, p := range parts {
		if p == nil {
			continue
		}
		for i := 0; i+1 < len(p.Content); i += 2 {
			k, v := p.Content[i], p.Content[i+1]
			if existing := mapChild(out, k.Value); existing != nil && existing.Kind == yaml.MappingNode && v.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(v.Content); j += 2 {
					ek := mapChild(existing, v.Content[j].Value)
					if ek != nil && ek.Kind == yaml.SequenceNode && v.Content[j+1].Kind == yaml.SequenceNode {
						ek.Content = append(ek.Content, v.Content[j+1].Content...)
					} else {
						existing.Content = append(existing.Content, v.Content[j], v.Content[j+1])
					}
				}
				continue
			}
			out.Content = append(out.Content, k, v)
		}
	}
	if len(out.Content) == 0 {
		return nil
	}
	return out
}

func mapChild(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// encodeYAML writes n as a YAML document with two-space indentation.
func encodeYAML(n *yaml.Node) (string, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}
