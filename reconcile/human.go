package reconcile

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/rackctl/rackctl/internal/termtext"
	"github.com/rackctl/rackctl/ipam"
)

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

// WriteHuman writes the terraform-style view of p. color adds ANSI colors;
// callers pass false when NO_COLOR is set or the output is no terminal.
//
// Every text of the plan goes through termtext (esc): addresses, reasons
// and notes carry node names and spec values, diffs the content of files
// on disk, and none of it may reach the terminal as control characters.
// The ANSI codes of paint are the only ones written.
func WriteHuman(w io.Writer, p *Plan, color bool) error {
	// A first plan of a thousand nodes prints megabytes: written in large
	// pieces, not one write per 4 KiB.
	bw := bufio.NewWriterSize(w, 64<<10)
	esc := termtext.Escape
	paint := func(code, s string) string {
		if !color || s == "" {
			return s
		}
		return code + s + ansiReset
	}
	if len(p.Notes) > 0 {
		fmt.Fprintln(bw, paint(ansiBold, "Notes:"))
		for _, n := range p.Notes {
			fmt.Fprintln(bw, "  "+paint(ansiYellow, "- "+esc(n)))
		}
		fmt.Fprintln(bw)
	}
	if !p.HasChanges() {
		fmt.Fprintln(bw, paint(ansiBold+ansiGreen, "No changes.")+paint(ansiBold, " Your rack matches the configuration."))
		return flush(bw)
	}
	if len(p.Targets) > 0 {
		fmt.Fprintln(bw, paint(ansiYellow, "Note: node-specific changes are limited to "+esc(strings.Join(p.Targets, ", "))+" (-target); shared files are always planned."))
		fmt.Fprintln(bw)
	}
	if len(p.Allocations) > 0 {
		fmt.Fprintln(bw, paint(ansiBold, "IP allocation changes:"))
		for _, a := range p.Allocations {
			sym, code := allocSymbol(a)
			fmt.Fprintf(bw, "  %s %s\n", paint(code, sym), esc(a.String()))
		}
		fmt.Fprintln(bw)
	}
	var acts []Change
	for _, c := range p.Changes {
		if c.Action != ActionNoop {
			acts = append(acts, c)
		}
	}
	if len(acts) > 0 {
		fmt.Fprintln(bw, "rackctl will perform the following actions:")
		for _, c := range acts {
			sym, code := actionSymbol(c.Action)
			addr := esc(displayAddress(c.Address))
			phrase := c.Phrase
			if phrase == "" {
				phrase = actionPhrase(c.Action)
			}
			head := fmt.Sprintf("  # %s %s", addr, esc(phrase))
			if c.Reason != "" {
				head += " (" + esc(c.Reason) + ")"
			}
			fmt.Fprintln(bw)
			fmt.Fprintln(bw, paint(ansiBold, head))
			if c.Disruptive {
				fmt.Fprintln(bw, "    "+paint(ansiRed, "! disruptive: interrupts "+esc(strings.Join(c.Interrupts(), ", "))))
			}
			fmt.Fprintf(bw, "  %s %s\n", paint(code, sym), addr)
			writeDetail(bw, c, paint)
			writeDiff(bw, c.Diff, color)
		}
		fmt.Fprintln(bw)
	}
	if r := p.Rollout; r != nil {
		fmt.Fprintln(bw, paint(ansiBold, fmt.Sprintf("Rollout in %d waves, gated on health:", len(r.Waves))))
		for _, line := range r.Split() {
			fmt.Fprintln(bw, "  - "+esc(line))
		}
		fmt.Fprintln(bw)
	}
	n := p.Counts()
	fmt.Fprintf(bw, "%s %d to add, %d to change, %d to destroy.\n", paint(ansiBold, "Plan:"), n.Add, n.Change, n.Destroy)
	return flush(bw)
}

// writeDetail shows the summary lines and the notes of a change.
func writeDetail(w io.Writer, c Change, paint func(code, s string) string) {
	for _, l := range c.Summary {
		line := termtext.Escape(l.Text)
		if l.Mark != "" {
			line = paint(ansiCyan, termtext.Escape(l.Mark)) + " " + line
		}
		fmt.Fprintln(w, "      "+line)
	}
	for _, n := range c.Notes {
		fmt.Fprintln(w, "    "+paint(ansiYellow, "note: "+termtext.Escape(n)))
	}
}

func flush(bw *bufio.Writer) error {
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// writeDiff writes the diff's lines indented, each painted by its kind.
// It is most of a first plan's output (every created file is shown whole),
// so each line goes straight to the buffer: no per-line string is built.
// As paint does, a colored non-empty line ends with a reset even when it
// has no color of its own.
func writeDiff(w *bufio.Writer, diff string, color bool) {
	for line := range strings.Lines(diff) {
		// A CR inside the line is escaped: it would move the cursor back
		// over what was printed.
		line = termtext.Escape(strings.TrimRight(line, "\r\n"))
		w.WriteString("      ")
		if !color || line == "" {
			w.WriteString(line)
			w.WriteByte('\n')
			continue
		}
		w.WriteString(diffLineColor(line))
		w.WriteString(line)
		w.WriteString(ansiReset)
		w.WriteByte('\n')
	}
}

// diffLineColor is the color of a unified diff line: headers bold, hunks
// cyan, additions green, removals red, context none.
func diffLineColor(line string) string {
	switch {
	case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
		return ansiBold
	case strings.HasPrefix(line, "@@"):
		return ansiCyan
	case strings.HasPrefix(line, "+"):
		return ansiGreen
	case strings.HasPrefix(line, "-"):
		return ansiRed
	}
	return ""
}

// displayAddress turns "file:etc/hosts" into "file etc/hosts".
func displayAddress(a string) string {
	kind, rest, ok := strings.Cut(a, ":")
	if !ok {
		return a
	}
	return kind + " " + rest
}

func actionSymbol(a Action) (string, string) {
	switch a {
	case ActionCreate:
		return "+", ansiGreen
	case ActionDelete:
		return "-", ansiRed
	case ActionUpdate, ActionReload, ActionRun, ActionSetBootDisk, ActionRenew, ActionRotateCredentials, ActionSwitchCredentials, ActionEjectMedia:
		return "~", ansiYellow
	case ActionPXEReinstall, ActionMediaReinstall:
		return "-/+", ansiRed
	default:
		return "!", ansiYellow
	}
}

func actionPhrase(a Action) string {
	switch a {
	case ActionCreate:
		return "will be created"
	case ActionUpdate:
		return "will be updated in-place"
	case ActionDelete:
		return "will be destroyed"
	case ActionReload:
		return "will be reloaded"
	case ActionPowerCycle:
		return "will be power-cycled"
	case ActionRelease:
		return "will be released"
	case ActionRenew:
		return "will renew its DHCP lease"
	case ActionPXEReinstall:
		return "will be PXE-booted and power-cycled (reinstall)"
	case ActionMediaReinstall:
		return "will boot from virtual media and be power-cycled (reinstall)"
	case ActionEjectMedia:
		return "will eject its virtual media"
	case ActionSetBootDisk:
		return "will boot from disk (persistent, EFI)"
	case ActionRun:
		return "will run"
	case ActionVerify:
		return "will be verified and recorded as installed"
	case ActionRotateCredentials:
		return "will get the new BMC account"
	case ActionSwitchCredentials:
		return "will be switched to the new BMC account"
	default:
		return "will get " + string(a)
	}
}

func allocSymbol(c ipam.Change) (string, string) {
	switch {
	case c.Reason == ipam.ReasonNew:
		return "+", ansiGreen
	case c.Reason == ipam.ReasonReleased:
		return "-", ansiRed
	default:
		return "~", ansiYellow
	}
}
