package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/notify"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/source"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/watch"
)

type watchFlags struct {
	repo              string
	branch            string
	path              string
	interval          time.Duration
	fetchTimeout      time.Duration
	verifyKeyring     string
	allowedSigners    string
	allowNonFF        bool
	webhookSecretFile string
	repoPasswordFile  string
	maxControllers    int
	windows           []string
	driftInterval     time.Duration
	backoffMin        time.Duration
	backoffMax        time.Duration
	approvalPoll      time.Duration
	listen            string
	httpTimeout       time.Duration
	statusInterval    time.Duration
	web               webFlags
	once              bool
	drivers           engine.DriverConfig
}

func newWatchCmd(g *globals) *cobra.Command {
	var wf watchFlags
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Apply every new revision of rack.yaml (GitOps loop)",
		Long: `watch follows rack.yaml in a git repository (--repo) or on disk (-f) and,
for each new revision, validates it, plans and applies it, as 'rackctl apply
--auto-approve' would. A spec that fails validation is rejected and the rack
stays as it was; with --verify-keyring or --allowed-signers only commits
signed by those keys are followed.

Safety: a plan that would reinstall or power-cycle more nodes than the limits
allow (--max-disruptive-*) is held, whole, until 'rackctl approve COMMIT'; with
--disruptive-window, a plan with any disruptive change waits for a window
(non-disruptive plans apply at any time). A plan within the limits is
carried out in waves as 'rackctl apply' does (--no-waves: in one step), and
the limits count the largest wave. A held plan is re-planned before it
is applied. The applied revision is re-planned every --drift-interval and any
drift is fixed under the same rules. Failures are retried with exponential
backoff.

Every outcome is recorded in <state-dir>/watch-events.jsonl (applies also in
history.jsonl) and sent to the notification targets of the config file
(notifications:, docs/notifications.md; 'rackctl notify test' tries them).
The web view (/), /metrics, /healthz, the rack's API
(GET /api/status, /api/plan, /api/history, /api/events: the rack, the loop,
held commits, last errors and every node's state, re-read every
--status-interval and after each outcome; POST /api/approve with
--approve-token-file: docs/api.md) and, for a git source, POST /webhook are
served on --listen (keep it on loopback, or give it --tls-cert-file and
--tls-key-file; each request gets --http-timeout);
with --webhook-secret-file a webhook must carry the HMAC of its body
(X-Hub-Signature-256) or the secret (X-Gitlab-Token). A password in the --repo
URL is redacted wherever rackctl shows the URL, but the process list shows
it: use --repo-password-file. SIGHUP fetches at once; SIGTERM stops after
cancelling the running apply cleanly. Layers and drivers take the same flags
as apply. Every flag here is also a setting of the management node config
(--config, default <root>/etc/rackctl/config.yaml) and a RACKCTL_* variable;
see 'rackctl config view'.

With --once the current revision is handled once; exit 0 when applied or
already in sync, 2 when held, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f := cmd.Flag("log-level"); f == nil || !f.Changed {
				g.log = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			return g.runWatch(cmd.Context(), cmd, &wf)
		},
	}
	f := cmd.Flags()
	f.StringVar(&wf.repo, "repo", "", "git repository to follow (URL or local path); without it the file -f is watched")
	f.StringVar(&wf.branch, "branch", source.DefaultBranch, "branch to follow")
	f.StringVar(&wf.path, "path", source.DefaultSpecPath, "path of the spec in the repository")
	f.DurationVar(&wf.interval, "interval", source.DefaultInterval, "time between fetches of the repository")
	f.DurationVar(&wf.fetchTimeout, "fetch-timeout", source.DefaultTimeout, "timeout of one fetch")
	f.StringVar(&wf.verifyKeyring, "verify-keyring", "", "follow only commits signed by a key of this ASCII-armored OpenPGP keyring")
	f.StringVar(&wf.allowedSigners, "allowed-signers", "", "follow only commits signed by an SSH key of this allowed-signers file")
	f.BoolVar(&wf.allowNonFF, "allow-non-fast-forward", false, "follow a branch whose history was rewritten")
	f.StringVar(&wf.webhookSecretFile, "webhook-secret-file", "", "file holding the secret POST /webhook requires (X-Hub-Signature-256 HMAC of the body, X-Gitlab-Token or "+source.WebhookSecretHeader+")")
	f.StringVar(&wf.repoPasswordFile, "repo-password-file", "", "file holding the password or token of an http(s) --repo (user from the URL, else \"git\"): keeps it out of the URL and the process list")
	f.IntVar(&wf.maxControllers, "max-disruptive-controllers", 1, "controllers one commit may reinstall or power-cycle without approval (-1: no limit)")
	f.StringArrayVar(&wf.windows, "disruptive-window", nil, `when disruptive changes may run, local time, e.g. "Mon-Fri 09:00-17:00"; repeatable (default: any time)`)
	f.DurationVar(&wf.driftInterval, "drift-interval", watch.DefaultDriftInterval, "re-plan the applied revision this often (0: off)")
	f.DurationVar(&wf.backoffMin, "backoff-min", watch.DefaultBackoffMin, "wait after the first failure; doubles with each failure in a row")
	f.DurationVar(&wf.backoffMax, "backoff-max", watch.DefaultBackoffMax, "longest wait between retries")
	f.DurationVar(&wf.approvalPoll, "approval-poll", watch.DefaultPollInterval, "how often a held plan checks for its approval or window")
	f.StringVar(&wf.listen, "listen", "127.0.0.1:9747", "address of the web view, /api/, /metrics, /healthz and /webhook (empty: off)")
	f.DurationVar(&wf.httpTimeout, "http-timeout", defaultHTTPTimeout, "longest time --listen gives one request to arrive whole and its answer to leave")
	f.DurationVar(&wf.statusInterval, "status-interval", api.DefaultInterval, "how often --listen's GET /api/status re-reads every node (BMCs, installs, configs); also after each apply")
	registerWebFlags(f, &wf.web)
	f.BoolVar(&wf.once, "once", false, "handle the current revision once and exit")
	registerDriverFlags(f, &wf.drivers)
	f.BoolVar(&wf.drivers.Rollout.NoWaves, "no-waves", false, "carry out every plan in one step, without waves or health gates; the limits then count every node a plan disrupts")
	return cmd
}

func (g *globals) runWatch(ctx context.Context, cmd *cobra.Command, wf *watchFlags) error {
	pol, drift, err := g.watchSettings(cmd, wf)
	if err != nil {
		return err
	}
	eng, err := g.engine(&wf.drivers)
	if err != nil {
		return err
	}
	defer eng.Close() // ends the BMC sessions kept between drift checks
	// Before the source: the git source makes its dir beneath it 0700.
	rec, err := eng.Reconciler()
	if err != nil {
		return err
	}
	src, git, err := g.watchSource(wf)
	if err != nil {
		return err
	}
	var w *watch.Watcher // set below, before the loop sends any event
	notifier, err := g.notifier(sourceName(wf, g), func() string {
		if s := w.Spec(); s != nil {
			return s.Name
		}
		return ""
	})
	if err != nil {
		return err
	}
	defer closeNotifier(notifier)
	var last watch.EventRecord
	kick := func(watch.EventRecord) {} // the API's, once it is served: a new observation and an event after each outcome
	cfg := watch.Config{
		Source:        src,
		Reconciler:    rec,
		StateDir:      g.stateDir,
		Policy:        pol,
		DriftInterval: drift,
		BackoffMin:    wf.backoffMin,
		BackoffMax:    wf.backoffMax,
		PollInterval:  wf.approvalPoll,
		Log:           g.log,
		OnEvent: func(r watch.EventRecord) {
			last = r
			kick(r)
			if notifier != nil {
				notifier.Notify(r)
			}
		},
	}
	if git != nil {
		cfg.Webhook = git.WebhookHandler()
		cfg.Pins = git
	}
	w, err = watch.New(cfg)
	if err != nil {
		return err
	}
	if err := registerWatchCollectors(w, eng, notifier); err != nil {
		return err
	}
	stop, err := g.serveWatch(ctx, w, wf, &kick)
	if err != nil {
		return err
	}
	defer stop()
	if wf.once {
		out, err := w.RunOnce(ctx)
		return g.reportOnce(out, last, err)
	}
	defer g.fetchOnHUP(ctx, git)()
	g.log.Info("watching", "source", sourceName(wf, g), "stateDir", g.stateDir)
	if err := w.Run(ctx); err != nil {
		return err
	}
	g.log.Info("stopped")
	return nil
}

// registerWatchCollectors adds the engine's and the notifier's metrics to
// the watcher's registry, so /metrics serves them next to the loop's own.
func registerWatchCollectors(w *watch.Watcher, eng *engine.Engine, notifier *notify.Notifier) error {
	if err := w.Register(eng.MaintenanceGauge(w.Spec)); err != nil {
		return err
	}
	if notifier == nil {
		return nil
	}
	return w.Register(notifier.Collectors()...)
}

// watchSettings are the loop's policy and drift interval (negative: off);
// with --repo the spec is the repository's --path.
func (g *globals) watchSettings(cmd *cobra.Command, wf *watchFlags) (watch.Policy, time.Duration, error) {
	pol, err := watchPolicy(wf)
	if err != nil {
		return watch.Policy{}, 0, err
	}
	drift := wf.driftInterval
	if drift == 0 {
		drift = -1 // off
	}
	if wf.repo != "" {
		if cmd.Flags().Changed("file") {
			return watch.Policy{}, 0, errors.New("-f and --repo exclude each other: -f watches a local file, --repo a git repository")
		}
		g.specFile = wf.path
	}
	return pol, drift, nil
}

// serveWatch serves watch's listener (--listen; nothing when it is empty)
// until stop is called; *kick is set to the API's.
func (g *globals) serveWatch(ctx context.Context, w *watch.Watcher, wf *watchFlags, kick *func(watch.EventRecord)) (stop func(), err error) {
	if wf.listen == "" {
		return func() {}, nil
	}
	if wf.httpTimeout <= 0 {
		return nil, fmt.Errorf("--http-timeout %s: want a positive duration", wf.httpTimeout)
	}
	h, err := g.watchHandler(ctx, w, wf, kick)
	if err != nil {
		return nil, err
	}
	return serveHTTP(wf.listen, h, wf.httpTimeout, wf.web, g.log)
}

func watchPolicy(wf *watchFlags) (watch.Policy, error) {
	pol := watch.Policy{
		MaxControllers:    wf.maxControllers,
		MaxWorkersPercent: wf.drivers.Rollout.MaxWorkersPercent,
		MaxNodesPercent:   wf.drivers.Rollout.MaxNodesPercent,
	}
	for _, s := range wf.windows {
		w, err := watch.ParseWindow(s)
		if err != nil {
			return pol, fmt.Errorf("--disruptive-window: %w", err)
		}
		pol.Windows = append(pol.Windows, w)
	}
	return pol, nil
}

// fetchOnHUP makes SIGHUP fetch a git source at once, until stop is
// called.
func (g *globals) fetchOnHUP(ctx context.Context, git *source.Git) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if git != nil {
					g.log.Info("SIGHUP: fetching now")
					git.Trigger()
				} else {
					g.log.Info("SIGHUP ignored: the file source sees changes by itself")
				}
			}
		}
	}()
	return func() { signal.Stop(hup) }
}

// watchSource is the file -f, or with --repo the git repository (then
// also returned as git, for the webhook and SIGHUP).
func (g *globals) watchSource(wf *watchFlags) (source.Source, *source.Git, error) {
	if wf.repo == "" {
		if wf.verifyKeyring != "" || wf.allowedSigners != "" {
			return nil, nil, errors.New("--verify-keyring and --allowed-signers need a git source (--repo)")
		}
		fs, err := source.NewFile(source.FileConfig{Path: g.specFile, Log: g.log})
		return fs, nil, err
	}
	cfg, err := g.gitConfig(wf)
	if err != nil {
		return nil, nil, err
	}
	git, err := source.NewGit(cfg)
	if err != nil {
		return nil, nil, err
	}
	return git, git, nil
}

func (g *globals) gitConfig(wf *watchFlags) (source.GitConfig, error) {
	cfg := source.GitConfig{
		URL: wf.repo, Branch: wf.branch, Path: wf.path,
		Dir:      state.New(g.stateDir).GitSourceDir(),
		Interval: wf.interval, Timeout: wf.fetchTimeout,
		AllowNonFastForward: wf.allowNonFF,
		Log:                 g.log,
	}
	var err error
	if wf.verifyKeyring != "" {
		if cfg.Keyring, err = os.ReadFile(wf.verifyKeyring); err != nil {
			return cfg, fmt.Errorf("--verify-keyring: %w", err)
		}
		cfg.Verify = true
	}
	if wf.allowedSigners != "" {
		if cfg.SSHAllowedSigners, err = os.ReadFile(wf.allowedSigners); err != nil {
			return cfg, fmt.Errorf("--allowed-signers: %w", err)
		}
		cfg.Verify = true
	}
	if source.RedactURL(wf.repo) != wf.repo {
		g.log.Warn("the --repo URL carries a credential, which every user sees in the process list: put it in --repo-password-file", "repo", source.RedactURL(wf.repo))
	}
	if wf.repoPasswordFile != "" {
		if cfg.Auth, err = repoAuth(wf); err != nil {
			return cfg, err
		}
	}
	if wf.webhookSecretFile != "" {
		if cfg.WebhookSecret, err = readSecretFile(wf.webhookSecretFile); err != nil {
			return cfg, fmt.Errorf("--webhook-secret-file: %w", err)
		}
	}
	if cfg.LastApplied, err = state.New(g.stateDir).LastApplied(); err != nil {
		g.log.Warn("last applied commit unknown", "err", err)
	}
	return cfg, nil
}

// repoAuth is the basic auth of --repo-password-file: the user from the
// URL, else "git".
func repoAuth(wf *watchFlags) (*githttp.BasicAuth, error) {
	pw, err := readSecretFile(wf.repoPasswordFile)
	if err != nil {
		return nil, fmt.Errorf("--repo-password-file: %w", err)
	}
	u, err := url.Parse(wf.repo)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, errors.New("--repo-password-file needs an http:// or https:// --repo (ssh uses its own keys)")
	}
	user := "git"
	if u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
	}
	return &githttp.BasicAuth{Username: user, Password: string(pw)}, nil
}

func sourceName(wf *watchFlags, g *globals) string {
	if wf.repo != "" {
		return source.RedactURL(wf.repo) + "@" + wf.branch + ":" + wf.path
	}
	return g.specFile
}

// reportOnce prints the outcome of --once and turns it into the exit code.
func (g *globals) reportOnce(out watch.Outcome, rec watch.EventRecord, err error) error {
	if g.output == "json" {
		_ = writeJSON(g.stdout, struct {
			Outcome watch.Outcome     `json:"outcome"`
			Record  watch.EventRecord `json:"record"`
			Error   string            `json:"error,omitempty"`
		}{out, rec, errString(err)})
	} else {
		fmt.Fprintf(g.stdout, "%s: %s\n", shortCommit(rec.Commit), out)
		var diags schema.Errors
		switch {
		case errors.As(err, &diags):
			fmt.Fprintf(g.stderr, "spec is not valid (%d problem%s):\n", len(diags), plural(len(diags)))
			for _, d := range diags {
				fmt.Fprintf(g.stderr, "  %s\n", d)
			}
		case err != nil:
			fmt.Fprintln(g.stderr, "Error:", err)
		case rec.Reason != "":
			fmt.Fprintln(g.stdout, rec.Reason)
		}
	}
	switch out {
	case watch.OutcomeApplied, watch.OutcomeUnchanged:
		return nil
	case watch.OutcomeHeld:
		return exitCodeError{exitChanges}
	default:
		return exitCodeError{exitError}
	}
}

// defaultHTTPTimeout bounds one request to /metrics, /healthz or /webhook.
const defaultHTTPTimeout = 10 * time.Second

// serveHTTP serves h on addr until stop is called. Every request has
// timeout to arrive (headers and body) and to be answered, so a client
// that sends slowly, or not at all, holds no connection for long.
func serveHTTP(addr string, h http.Handler, timeout time.Duration, wf webFlags, log *slog.Logger) (stop func(), err error) {
	tlsCfg, err := wf.tlsConfig()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	if !loopbackOnly(addr) && tlsCfg == nil {
		log.Warn("--listen is not a loopback address and serves plain HTTP: the web view, /metrics, /healthz, /api/ and /webhook are open, unencrypted, to every host that reaches it; "+
			"set --tls-cert-file and --tls-key-file (watch.tlsCertFile, watch.tlsKeyFile), or listen on 127.0.0.1 behind a proxy", "addr", ln.Addr().String())
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: timeout,
		ReadTimeout:       timeout,
		WriteTimeout:      timeout,
		IdleTimeout:       2 * timeout,
		MaxHeaderBytes:    64 << 10,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	log.Info("serving the web view, /api/, /metrics and /healthz", "url", listenURL(ln.Addr().String(), tlsCfg != nil))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// loopbackOnly tells whether a --listen address accepts connections from
// this host only: a loopback IP or "localhost". An empty host, an
// unspecified IP (0.0.0.0, ::) or any other name or address is reachable
// from elsewhere, as far as rackctl can tell.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// readSecretFile reads a secret file, without its trailing newline.
func readSecretFile(path string) ([]byte, error) {
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
