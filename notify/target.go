package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rackctl/rackctl/internal/childenv"
)

// TargetKind is how a target is reached.
type TargetKind string

const (
	KindWebhook TargetKind = "webhook" // POST of the Event JSON
	KindSlack   TargetKind = "slack"   // Slack-compatible incoming webhook
	KindCommand TargetKind = "command" // a program, the Event JSON on stdin
)

// Headers of the generic webhook.
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
	// body keyed with the target's secret, as GitHub's
	// X-Hub-Signature-256.
	SignatureHeader = "X-Rackctl-Signature-256"
	EventHeader     = "X-Rackctl-Event"    // the event's kind
	DeliveryHeader  = "X-Rackctl-Delivery" // the event's id
)

// DefaultTimeout bounds one attempt at a target when its config sets none.
const DefaultTimeout = 10 * time.Second

// TargetConfig is one target of the config's notifications: list.
type TargetConfig struct {
	Name string
	Kind TargetKind
	// URLFile holds the URL of a webhook or Slack target: a Slack URL is
	// itself a credential, so it is never written in the config.
	URLFile string
	// SecretFile holds the HMAC key of a webhook target (optional).
	SecretFile string
	// Command is the argv of a command target, run without a shell.
	Command []string
	// Events are the kinds the target gets; empty means DefaultKinds.
	Events  []Kind
	Timeout time.Duration
}

// Target delivers one event; an error is retried unless it is Permanent.
type Target interface {
	Send(ctx context.Context, e Event) error
}

// PermanentError is a failure a retry cannot mend (a 4xx answer other
// than 408 and 429).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// NewTarget reads the files tc names and returns its target.
func NewTarget(tc TargetConfig) (Target, error) {
	switch tc.Kind {
	case KindWebhook, KindSlack:
		u, err := readURL(tc.URLFile)
		if err != nil {
			return nil, fmt.Errorf("notification target %s: %w", tc.Name, err)
		}
		h := &httpTarget{url: u, client: newHTTPClient(), slack: tc.Kind == KindSlack}
		if tc.SecretFile != "" {
			if tc.Kind == KindSlack {
				return nil, fmt.Errorf("notification target %s: a slack target signs nothing: remove secretFile", tc.Name)
			}
			if h.secret, err = readSecret(tc.SecretFile); err != nil {
				return nil, fmt.Errorf("notification target %s: secret file: %w", tc.Name, err)
			}
		}
		return h, nil
	case KindCommand:
		if len(tc.Command) == 0 || tc.Command[0] == "" {
			return nil, fmt.Errorf("notification target %s: command is empty", tc.Name)
		}
		return &commandTarget{argv: slices.Clone(tc.Command)}, nil
	}
	return nil, fmt.Errorf("notification target %s: kind %q: want webhook, slack or command", tc.Name, tc.Kind)
}

func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return b, nil
}

// readURL reads an http(s) URL from path. Errors never quote the URL: its
// path may be the credential.
func readURL(path string) (string, error) {
	if path == "" {
		return "", errors.New("no urlFile")
	}
	b, err := readSecret(path)
	if err != nil {
		return "", fmt.Errorf("url file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("url file %s: does not hold one http:// or https:// URL (the content is not shown)", path)
	}
	return s, nil
}

func newHTTPClient() *http.Client {
	return &http.Client{
		// A redirect would send the event (and its signature) elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// httpTarget posts to a webhook: the Event JSON, or Slack's text and
// blocks.
type httpTarget struct {
	url    string
	secret []byte
	slack  bool
	client *http.Client
}

func (h *httpTarget) Send(ctx context.Context, e Event) error {
	var body []byte
	var err error
	if h.slack {
		body, err = json.Marshal(slackMessage(e))
	} else {
		body, err = json.Marshal(e)
	}
	if err != nil {
		return &PermanentError{fmt.Errorf("encode event: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return &PermanentError{errors.New("bad URL (not shown)")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rackctl-notify/"+strconv.Itoa(FormatVersion))
	if !h.slack {
		req.Header.Set(EventHeader, string(e.Kind))
		req.Header.Set(DeliveryHeader, e.ID)
		if h.secret != nil {
			req.Header.Set(SignatureHeader, Sign(h.secret, body))
		}
	}
	resp, err := h.client.Do(req)
	if err != nil {
		// url.Error quotes the URL; keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post to %s: %w", hostOf(h.url), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("post to %s: %s: %q", hostOf(h.url), resp.Status, bytes.TrimSpace(snippet))
	if permanentStatus(resp.StatusCode) {
		return &PermanentError{err}
	}
	return err
}

// permanentStatus tells the answers a retry cannot change: a redirect
// (not followed) and a 4xx other than 408 and 429.
func permanentStatus(code int) bool {
	switch {
	case code/100 == 3:
		return true
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
		return false
	}
	return code/100 == 4
}

// hostOf is the part of a URL that may be logged: scheme and host.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(url not shown)"
	}
	return u.Scheme + "://" + u.Host
}

// Sign is the value of SignatureHeader for body: "sha256=" and the hex
// HMAC-SHA256 keyed with secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify tells whether sig is body's SignatureHeader under secret, in
// constant time: the check a receiver makes.
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(secret, body)))
}

// commandTarget runs argv with the Event JSON on stdin.
type commandTarget struct{ argv []string }

// commandEnv is what the command inherits: rackctl's environment without
// its secrets (childenv.Common), and the event's kind and id.
func commandEnv(e Event) []string {
	env := childenv.Policy{}.Filter(os.Environ(), nil)
	return append(env, "RACKCTL_EVENT_KIND="+string(e.Kind), "RACKCTL_EVENT_ID="+e.ID)
}

func (c *commandTarget) Send(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return &PermanentError{fmt.Errorf("encode event: %w", err)}
	}
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Stdin = bytes.NewReader(append(body, '\n'))
	cmd.Env = commandEnv(e)
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = &limitWriter{w: &stderr, n: 512}
	// A child that keeps the pipes open after being killed must not hold
	// the sender.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("command %s: %w", c.argv[0], ctx.Err())
		}
		return fmt.Errorf("command %s: %w: %q", c.argv[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// limitWriter keeps the first n bytes and drops the rest.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		_, _ = l.w.Write(p[:k])
	}
	return len(p), nil
}

// slackBody is a Slack incoming webhook's payload: text for
// notifications and clients without blocks, blocks for the message.
type slackBody struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func slackMessage(e Event) slackBody {
	head := fmt.Sprintf("*rackctl %s*", e.Kind)
	if e.Rack != "" {
		head += " rack " + slackEscape(e.Rack)
	}
	if e.Host != "" {
		head += " on " + slackEscape(e.Host)
	}
	blocks := []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: head + "\n" + slackEscape(e.Summary)}}}
	if e.Held != nil && e.Held.Approve != "" {
		blocks = append(blocks, slackBlock{Type: "section",
			Text: &slackText{Type: "mrkdwn", Text: "To apply it anyway:\n```" + slackEscape(e.Held.Approve) + "```"}})
	}
	for _, d := range e.rejectedDiagnostics() {
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: "`" + slackEscape(d) + "`"}})
	}
	var ctx []slackText
	if e.Commit != nil {
		ctx = append(ctx, slackText{Type: "mrkdwn", Text: "commit " + slackEscape(e.Commit.ID) + author(e.Commit)})
	}
	if e.Source != "" {
		ctx = append(ctx, slackText{Type: "mrkdwn", Text: slackEscape(e.Source)})
	}
	if len(ctx) > 0 {
		blocks = append(blocks, slackBlock{Type: "context", Elements: ctx})
	}
	return slackBody{Text: slackEscape(e.Summary), Blocks: blocks}
}

// rejectedDiagnostics are the first positioned errors of a rejected spec,
// as file:line:col: field: message.
func (e Event) rejectedDiagnostics() []string {
	if e.Rejected == nil {
		return nil
	}
	var out []string
	for i, d := range e.Rejected.Diagnostics {
		if i == 5 {
			out = append(out, fmt.Sprintf("… and %d more", len(e.Rejected.Diagnostics)-i))
			break
		}
		s := fmt.Sprintf("%s:%d:%d: ", d.File, d.Line, d.Col)
		if d.Field != "" {
			s += d.Field + ": "
		}
		out = append(out, s+d.Message)
	}
	return out
}

func author(c *Commit) string {
	if c.Author == "" {
		return ""
	}
	return " by " + slackEscape(c.Author)
}

// slackEscape escapes what Slack's mrkdwn reads as markup (&, <, >).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
