package main

import (
	"encoding/json"
	"io"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// terraformFlags may be typed with one dash, as terraform users do
// (-out=plan.json, -target=node-1); pflag would read "-out" as "-o ut".
var terraformFlags = []string{"out", "target", "detailed-exitcode", "auto-approve"}

func normalizeArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		for _, name := range terraformFlags {
			if a == "-"+name || len(a) > len(name)+2 && a[:len(name)+2] == "-"+name+"=" {
				a = "-" + a
				break
			}
		}
		out = append(out, a)
	}
	return out
}
