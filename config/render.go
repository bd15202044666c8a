package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Entry is one setting as Render writes it.
type Entry struct {
	Setting
	Help    string   // what the setting does (the flag's usage)
	Default string   // the built-in default, shown when the entry is not set
	Set     bool     // written as a value; otherwise a comment
	Values  []string // the value when Set
	Why     string   // what on the host made init choose the value
}

// Render writes a commented config file: every setting in the order of
// Settings, grouped by section, with its help; the entries not Set are
// commented out at their default. Parse accepts the result.
func Render(header []string, entries []Entry) []byte {
	var b bytes.Buffer
	for _, h := range header {
		fmt.Fprintf(&b, "# %s\n", h)
	}
	b.WriteString("apiVersion: rackctl/v1alpha1\nkind: Config\n")
	section := ""
	for _, e := range entries {
		sec, name, nested := strings.Cut(e.Key, ".")
		if !nested {
			sec, name = "", e.Key
		}
		if sec != section {
			fmt.Fprintf(&b, "\n%s:\n", sec)
			section = sec
		} else {
			b.WriteString("\n")
		}
		indent := ""
		if sec != "" {
			indent = "  "
		}
		if e.Help != "" {
			fmt.Fprintf(&b, "%s# %s\n", indent, oneLine(e.Help))
		}
		fmt.Fprintf(&b, "%s# env %s, flag --%s\n", indent, e.Env(), e.Flag)
		if e.Why != "" {
			fmt.Fprintf(&b, "%s# init: %s\n", indent, oneLine(e.Why))
		}
		if e.Set {
			fmt.Fprintf(&b, "%s%s: %s\n", indent, name, literal(e.Kind, e.Values))
		} else {
			fmt.Fprintf(&b, "%s# %s: %s\n", indent, name, defaultLiteral(e.Kind, e.Default))
		}
	}
	b.WriteString(notificationsExample)
	return b.Bytes()
}

func literal(k Kind, vals []string) string {
	switch k {
	case Int, Bool:
		if len(vals) == 1 {
			return vals[0]
		}
	case List:
		q := make([]string, len(vals))
		for i, v := range vals {
			q[i] = strconv.Quote(v)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	if len(vals) == 0 {
		return `""`
	}
	return strconv.Quote(vals[0])
}

func defaultLiteral(k Kind, def string) string {
	switch k {
	case Int, Bool:
		return def
	case List:
		return "[]"
	}
	return strconv.Quote(def)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// notificationsExample ends a rendered config: the notifications section,
// commented out (docs/notifications.md).
const notificationsExample = `
# Where rackctl watch sends its events (docs/notifications.md): kinds
# webhook (JSON, optional HMAC signature), slack (incoming webhook) and
# command (event JSON on stdin, no shell). URLs and secrets are read from
# files; events defaults to every kind but commit.unchanged.
# notifications: []
# notifications:
#   - name: ops-chat
#     kind: slack
#     urlFile: /etc/rackctl/slack-url
#     events: [commit.held, commit.rejected, apply.failed, install.failed]
#   - name: audit
#     kind: webhook
#     urlFile: /etc/rackctl/audit-url
#     secretFile: /etc/rackctl/audit-secret
#     timeout: 10s
`
