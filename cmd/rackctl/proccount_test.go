package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// countingTool is a stand-in for the program at real that records each
// start (one line in a log) and then runs it with the same arguments and
// environment, so a test can count the processes rackctl started. starts
// reads the count so far.
func countingTool(t *testing.T, real string) (path string, starts func() int) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "starts.log")
	path = filepath.Join(dir, filepath.Base(real))
	script := "#!/bin/sh\necho \"$$ $1\" >>'" + log + "'\nexec '" + real + "' \"$@\"\n"
	if strings.ContainsAny(real+log, "'") {
		t.Fatalf("countingTool: a quote in %s or %s", real, log)
	}
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, func() int {
		b, err := os.ReadFile(log)
		if os.IsNotExist(err) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "\n")
	}
}
