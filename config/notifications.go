package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"cuelang.org/go/cue"

	"github.com/rackctl/rackctl/notify"
	"github.com/rackctl/rackctl/schema"
)

// Notification is one target of the notifications: section and where the
// file names it. It has no flag or environment variable: a list of
// targets is the file's alone.
type Notification struct {
	notify.TargetConfig
	Value // Values is empty; File, Line and Col position the entry
}

// Notifications returns the targets of the notifications: section, in
// the order of the file.
func (f *File) Notifications() []Notification {
	if f == nil {
		return nil
	}
	return f.notifications
}

// rawNotification is one entry as the schema validated it.
type rawNotification struct {
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`
	URLFile    string   `json:"urlFile"`
	SecretFile string   `json:"secretFile"`
	Command    []string `json:"command"`
	Events     []string `json:"events"`
	Timeout    string   `json:"timeout"`
}

// parseNotifications decodes the section and checks what the schema
// cannot: which fields a kind needs, unique names, known event kinds.
func parseNotifications(doc *schema.Document) ([]Notification, schema.Errors, error) {
	if !doc.Has("notifications") {
		return nil, nil, nil
	}
	var raw []rawNotification
	if v := doc.Value.LookupPath(cue.ParsePath("notifications")); v.IsNull() {
		return nil, nil, nil
	} else if err := v.Decode(&raw); err != nil {
		return nil, nil, fmt.Errorf("config notifications: %w", err)
	}
	var out []Notification
	var diags schema.Errors
	names := map[string]int{}
	for i, r := range raw {
		at := func(field string) string { return fmt.Sprintf("notifications[%d]%s", i, field) }
		for _, msg := range checkNotification(r) {
			diags = append(diags, doc.Diagnostic(at(msg.field), msg.text))
		}
		if j, dup := names[r.Name]; dup {
			first := doc.Diagnostic(fmt.Sprintf("notifications[%d].name", j), "")
			diags = append(diags, doc.Diagnostic(at(".name"), fmt.Sprintf("%q is already the name of notifications[%d] (line %d): names must be unique", r.Name, j, first.Line)))
		}
		names[r.Name] = i
		for k, e := range r.Events {
			if !slices.Contains(notify.Kinds, notify.Kind(e)) {
				diags = append(diags, doc.Diagnostic(at(fmt.Sprintf(".events[%d]", k)), fmt.Sprintf("%q is not an event kind (want one of %s)", e, kindList())))
			}
		}
		d := doc.Diagnostic(at(""), "")
		n := Notification{Value: Value{File: d.File, Line: d.Line, Col: d.Col}, TargetConfig: notify.TargetConfig{
			Name: r.Name, Kind: notify.TargetKind(r.Kind), URLFile: r.URLFile, SecretFile: r.SecretFile, Command: r.Command,
		}}
		for _, e := range r.Events {
			n.Events = append(n.Events, notify.Kind(e))
		}
		n.Timeout, _ = time.ParseDuration(r.Timeout)
		out = append(out, n)
	}
	slices.SortStableFunc(diags, func(a, b schema.Diagnostic) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return out, diags, nil
}

type fieldMsg struct{ field, text string }

// checkNotification holds the rules between one entry's fields.
func checkNotification(r rawNotification) []fieldMsg {
	var out []fieldMsg
	switch notify.TargetKind(r.Kind) {
	case notify.KindWebhook, notify.KindSlack:
		if r.URLFile == "" {
			out = append(out, fieldMsg{"", fmt.Sprintf("a %s target needs urlFile (the file holding its URL)", r.Kind)})
		}
		if r.Command != nil {
			out = append(out, fieldMsg{".command", fmt.Sprintf("a %s target runs no command: remove command, or set kind: command", r.Kind)})
		}
		if r.Kind == string(notify.KindSlack) && r.SecretFile != "" {
			out = append(out, fieldMsg{".secretFile", "a slack target signs nothing (its URL is the secret): remove secretFile"})
		}
	case notify.KindCommand:
		if len(r.Command) == 0 || r.Command[0] == "" {
			out = append(out, fieldMsg{"", "a command target needs command: its program and arguments, run without a shell, e.g. [/usr/local/bin/page-ops, --team, infra]"})
		}
		if r.URLFile != "" || r.SecretFile != "" {
			field := ".urlFile"
			if r.URLFile == "" {
				field = ".secretFile"
			}
			out = append(out, fieldMsg{field, "a command target has no URL or secret: the event comes on its stdin"})
		}
	}
	if r.Timeout != "" {
		if d, err := time.ParseDuration(r.Timeout); err != nil || d <= 0 {
			out = append(out, fieldMsg{".timeout", fmt.Sprintf("%q is not a positive duration (want e.g. 10s)", r.Timeout)})
		}
	}
	return out
}

func kindList() string {
	var s []string
	for _, k := range notify.Kinds {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}
