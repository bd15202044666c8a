package rotate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rackctl/rackctl/bmc"
)

// FormatVersion is the version of the Plan's JSON form.
const FormatVersion = 1

// Request is what a rotation is asked to do: which BMCs, from which
// account to which. It carries the passwords and is never serialized.
type Request struct {
	// Targets are the BMCs in scope (the management node's own BMC is
	// never among them: it is not a node of the spec).
	Targets []bmc.Target
	// Old are the credentials rackctl uses now, New the account to move to.
	Old, New bmc.Credentials
	// DeleteOld deletes the old account (clears its name and disables it)
	// instead of only disabling it.
	DeleteOld bool
}

func (r Request) check() error {
	if err := bmc.CheckPassword(r.New.Password); err != nil {
		return fmt.Errorf("new credentials: %w", err)
	}
	if err := r.New.Validate(); err != nil {
		return fmt.Errorf("new credentials: %w", err)
	}
	if err := r.Old.Validate(); err != nil {
		return fmt.Errorf("current credentials: %w", err)
	}
	if r.Old.User == r.New.User && r.Old.Password != r.New.Password {
		return fmt.Errorf("rotate.user %q is the current BMC user: rotation moves to another account, name a new one", r.New.User)
	}
	return nil
}

// Plan is the rotation's plan: per BMC, the slot the new account takes and
// the steps left. It holds no secret; its JSON form is versioned and the
// human view (WriteHuman) is rendered from the same data.
type Plan struct {
	FormatVersion int    `json:"formatVersion"`
	User          string `json:"user"`
	OldUser       string `json:"oldUser"`
	DeleteOld     bool   `json:"deleteOld,omitempty"`
	// Switched: rackctl's credential files already hold the new account
	// (phase 2 started); only disabling old accounts can be left.
	Switched bool      `json:"switched"`
	Steps    []BMCStep `json:"steps"`
}

// BMCStep is one BMC's part of the plan.
type BMCStep struct {
	Node    string `json:"node"`
	Address string `json:"address"`
	// Protocol is the BMC's protocol; omitted for IPMI.
	Protocol string `json:"protocol,omitempty"`
	// Slot is the user ID the new account takes (0 when unknown).
	Slot int `json:"slot,omitempty"`
	// Reuse: an account with the new name already exists in Slot.
	Reuse bool `json:"reuse,omitempty"`
	// OldSlot is the current account's user ID (0 when unknown).
	OldSlot int `json:"oldSlot,omitempty"`
	// From is the progress proven on this BMC while planning.
	From    Phase    `json:"from"`
	Actions []string `json:"actions,omitempty"`
	Done    bool     `json:"done,omitempty"`
	Note    string   `json:"note,omitempty"`
	// Error: the BMC could not be planned (unreachable, refused, no free
	// slot). Apply fails this BMC, so nothing is switched.
	Error string `json:"error,omitempty"`
}

// Done reports whether nothing is left to do.
func (p *Plan) Done() bool {
	if !p.Switched {
		return false
	}
	for _, s := range p.Steps {
		if !s.Done {
			return false
		}
	}
	return true
}

// Errors lists the steps that could not be planned.
func (p *Plan) Errors() []BMCStep {
	var out []BMCStep
	for _, s := range p.Steps {
		if s.Error != "" {
			out = append(out, s)
		}
	}
	return out
}

func (p *Plan) step(node string) *BMCStep {
	for i := range p.Steps {
		if p.Steps[i].Node == node {
			return &p.Steps[i]
		}
	}
	return nil
}

// switchedMode: once the switch started, the old credentials are gone from
// rackctl's files; everything is done as the new user.
func switchedMode(req Request, st *State) bool {
	return req.Old == req.New || (st != nil && st.SwitchStarted)
}

// MakePlan reads each BMC's users in parallel (at most the client's
// Parallel at a time) and plans the rotation. state is the progress of an
// earlier apply (LoadState; nil for none); progress of another rotation is
// ignored. A BMC that cannot be read is a step with Error, not an error of
// MakePlan.
func MakePlan(ctx context.Context, c Accounts, req Request, state *State) (*Plan, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	st := state.forUser(req.New.User)
	p := &Plan{FormatVersion: FormatVersion, User: req.New.User, OldUser: req.Old.User, DeleteOld: req.DeleteOld}
	if switchedMode(req, st) {
		p.Switched = true
		p.OldUser = ""
		if st != nil {
			p.OldUser = st.OldUser
		}
	}
	res := bmc.ForEach(ctx, c.Config().Parallel, req.Targets, func(ctx context.Context, t bmc.Target) (BMCStep, error) {
		if p.Switched {
			return planSwitched(ctx, c, t, req, st, p.OldUser)
		}
		return planFresh(ctx, c, t, req, st)
	})
	for _, t := range req.Targets {
		r := res[t.Node]
		s := r.Value
		s.Node, s.Address = t.Node, t.Address
		if t.Protocol != bmc.ProtocolIPMI {
			s.Protocol = t.Protocol // "" stays IPMI, as plans saved before protocols were
		}
		if r.Err != nil {
			s.Error = r.Err.Error()
			s.Actions = nil
			s.Done = false
		}
		if s.From == "" {
			s.From = PhasePending
		}
		p.Steps = append(p.Steps, s)
	}
	return p, nil
}

// planFresh plans a BMC before the switch, reading it as the old user.
func planFresh(ctx context.Context, c Accounts, t bmc.Target, req Request, st *State) (BMCStep, error) {
	var s BMCStep
	asOld := t
	asOld.Credentials = req.Old
	users, err := c.Users(ctx, asOld)
	if err != nil {
		return s, fmt.Errorf("read users as %s: %w", req.Old.User, err)
	}
	named := map[int]string{}
	for _, u := range users {
		named[u.ID] = u.Name
		if u.Name == req.Old.User && s.OldSlot == 0 {
			s.OldSlot = u.ID
		}
		if u.Name == req.New.User && s.Slot == 0 {
			s.Slot, s.Reuse = u.ID, true
		}
	}
	if s.OldSlot == 0 {
		return s, fmt.Errorf("current user %q is not in the BMC's user list", req.Old.User)
	}
	ns, known := st.node(t.Node)
	if s.Slot == 0 {
		if known && ns.Slot >= 2 && named[ns.Slot] == "" {
			s.Slot = ns.Slot // the slot an earlier apply chose, still free
		} else {
			first, last, err := c.AccountSlots(ctx, asOld)
			if err != nil {
				return s, err
			}
			s.Slot = freeSlot(named, first, last)
			if s.Slot == 0 {
				return s, fmt.Errorf("no free user slot (slots %d to %d, %d named)", first, last, len(named))
			}
		}
	}
	s.From = PhasePending
	if known && ns.Slot == s.Slot && ns.Phase.AtLeast(PhaseVerified) {
		// Proven earlier: prove it again cheaply (one session, no process).
		switch err := c.TestLogin(ctx, t, req.New); {
		case err == nil:
			s.From = PhaseVerified
			s.Note = "new account verified by an earlier apply (login checked)"
		case errors.Is(err, bmc.ErrAuth):
			s.Note = "earlier apply verified the new account, but it no longer logs in: recreating"
		default:
			return s, err
		}
	}
	if !s.From.AtLeast(PhaseVerified) {
		verb := "create"
		if s.Reuse {
			verb = "reuse"
		}
		s.Actions = append(s.Actions,
			fmt.Sprintf("%s user %d %q: set name and password", verb, s.Slot, req.New.User),
			fmt.Sprintf("enable user %d", s.Slot),
			grantAction(t.Protocol, s.Slot),
			fmt.Sprintf("test login as %s", req.New.User))
	}
	s.Actions = append(s.Actions, oldAction(s.OldSlot, req.Old.User, req.DeleteOld)+" (after the credential files are switched)")
	return s, nil
}

func oldAction(slot int, user string, del bool) string {
	if del {
		return fmt.Sprintf("delete old user %d %q (disable, clear name)", slot, user)
	}
	return fmt.Sprintf("disable old user %d %q", slot, user)
}

// planSwitched plans a BMC after the switch, reading it as the new user:
// what is left is disabling the old account.
func planSwitched(ctx context.Context, c Accounts, t bmc.Target, req Request, st *State, oldUser string) (BMCStep, error) {
	var s BMCStep
	asNew := t
	asNew.Credentials = req.New
	users, err := c.Users(ctx, asNew) // a session as the new user: the login check
	if err != nil {
		return s, fmt.Errorf("read users as %s: %w", req.New.User, err)
	}
	s.From = PhaseVerified
	for _, u := range users {
		if u.Name == req.New.User && s.Slot == 0 {
			s.Slot = u.ID
		}
	}
	ns, known := st.node(t.Node)
	if known {
		s.OldSlot = ns.OldSlot
	}
	if s.OldSlot == 0 || oldUser == "" {
		s.From, s.Done = PhaseOldDisabled, true
		s.Note = "old account unknown (no rotation state): check with 'rackctl ipmi --all user list'"
		return s, nil
	}
	tried := known && ns.Phase.AtLeast(PhaseOldDisabled)
	if oldAccountGone(users, s.OldSlot, oldUser, req.DeleteOld, tried) {
		s.From, s.Done = PhaseOldDisabled, true
		return s, nil
	}
	s.Actions = []string{oldAction(s.OldSlot, oldUser, req.DeleteOld)}
	return s, nil
}

// oldAccountGone reports whether the old account in slot is disabled and,
// when del, nameless. A BMC that refuses an empty name (tried: an earlier
// apply deleted as far as the BMC allows) counts when disabled.
func oldAccountGone(users []bmc.User, slot int, oldUser string, del, tried bool) bool {
	for _, u := range users {
		if u.ID != slot {
			continue
		}
		if u.Name != oldUser {
			return true // renamed or deleted
		}
		return !u.Enabled && (!del || tried)
	}
	return true // no name in the slot any more
}

// grantAction describes how the new account gets administrator rights.
func grantAction(protocol string, slot int) string {
	if protocol == bmc.ProtocolRedfish {
		return fmt.Sprintf("give account %d the Redfish role Administrator", slot)
	}
	return fmt.Sprintf("grant user %d ADMINISTRATOR on channel %d (callin=on ipmi=on link=off privilege=4)", slot, bmc.LANChannel)
}

// freeSlot returns the lowest slot in first..last with no name; 0 when
// none is free.
func freeSlot(named map[int]string, first, last int) int {
	for id := first; id <= last; id++ {
		if named[id] == "" {
			return id
		}
	}
	return 0
}

// WriteHuman renders the plan for a terminal.
func (p *Plan) WriteHuman(w io.Writer) error {
	var b strings.Builder
	if p.Switched {
		fmt.Fprintf(&b, "BMC credential rotation to %q: credential files already switched.\n", p.User)
	} else {
		fmt.Fprintf(&b, "BMC credential rotation %q → %q on %d BMC%s.\n", p.OldUser, p.User, len(p.Steps), plural(len(p.Steps)))
	}
	var create, resume, done, failed int
	for _, s := range p.Steps {
		switch {
		case s.Error != "":
			failed++
			fmt.Fprintf(&b, "\n  × %s (%s): %s\n", s.Node, s.Address, s.Error)
			continue
		case s.Done:
			done++
			fmt.Fprintf(&b, "\n  ✓ %s: user %d %q in place, old account disabled\n", s.Node, s.Slot, p.User)
		case s.From.AtLeast(PhaseVerified):
			resume++
			fmt.Fprintf(&b, "\n  ~ %s: user %d %q\n", s.Node, s.Slot, p.User)
		default:
			create++
			how := "free slot"
			if s.Reuse {
				how = "existing account reused"
			}
			fmt.Fprintf(&b, "\n  + %s: user %d %q (%s), current user in slot %d\n", s.Node, s.Slot, p.User, how, s.OldSlot)
		}
		if s.Note != "" {
			fmt.Fprintf(&b, "      note: %s\n", s.Note)
		}
		for _, a := range s.Actions {
			fmt.Fprintf(&b, "      - %s\n", a)
		}
	}
	b.WriteString("\n")
	if !p.Switched {
		b.WriteString("Phase 2, only when every BMC above passed: switch rackctl's credential files to the\nnew account (old content kept as <file>.old), then disable the old accounts.\n")
	}
	if p.Done() {
		b.WriteString("No changes: every BMC logs in with the new account and the old one is disabled.\n")
	} else {
		fmt.Fprintf(&b, "Plan: %d to create, %d verified earlier, %d done, %d not reachable or not plannable.\n", create, resume, done, failed)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
