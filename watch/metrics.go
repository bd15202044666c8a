package watch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rackctl/rackctl/reconcile"
)

// metrics are the loop's Prometheus metrics, on a registry of its own.
type metrics struct {
	reg         *prometheus.Registry
	lastApplied *prometheus.GaugeVec
	lastTime    prometheus.Gauge
	duration    *prometheus.HistogramVec
	actions     *prometheus.CounterVec
	revisions   *prometheus.CounterVec
	bmc         *prometheus.GaugeVec
	drift       prometheus.Gauge
	held        prometheus.Gauge
	failures    prometheus.Gauge
	panics      prometheus.Counter
	sourceErrs  prometheus.Counter
	pinned      *prometheus.GaugeVec
	wave        prometheus.Gauge
	stopped     prometheus.Counter
	live        waveProgress
}

// waveProgress follows the running apply's rollout, wave by wave:
// rackctl_rollout_wave_in_progress and rackctl_rollout_wave_nodes.
type waveProgress struct {
	inProgress prometheus.Gauge
	nodes      *prometheus.GaugeVec
	// Of the running apply (set from its goroutine alone, one event at a
	// time; a scrape reads the gauges).
	waves map[int][]string
	wave  int
	count map[string]int // nodes by state
}

// States of a rollout's nodes (rackctl_rollout_wave_nodes' label).
const (
	wavePending    = "pending"     // in a wave not started, or not judged healthy
	waveInProgress = "in_progress" // in the wave being applied or waited on
	waveHealthy    = "healthy"     // in a wave that became healthy
	waveUnhealthy  = "unhealthy"   // named by the stop of the rollout
)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		lastApplied: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rackctl_watch_last_applied_info",
			Help: "The commit last applied (or found to need nothing): 1 for its commit label.",
		}, []string{"commit"}),
		lastTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rackctl_watch_last_applied_timestamp_seconds",
			Help: "When the last apply (or empty plan) of a revision finished, Unix time.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rackctl_watch_reconcile_duration_seconds",
			Help:    "Time of one reconcile (validate, plan, apply) by trigger and outcome.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"trigger", "outcome"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rackctl_watch_actions_total",
			Help: "Plan changes the loop applied, by layer and outcome (done, failed, not-attempted).",
		}, []string{"layer", "outcome"}),
		revisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rackctl_watch_reconciles_total",
			Help: "Reconciles by trigger and outcome (applied, unchanged, rejected, skipped, held, failed, apply-failed, rollout-stopped, cancelled).",
		}, []string{"trigger", "outcome"}),
		bmc: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rackctl_watch_bmc_reachable",
			Help: "1 when the node's BMC answered at the last plan, 0 when it did not (only nodes the bmc layer reads).",
		}, []string{"node"}),
		drift: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rackctl_watch_drift_changes",
			Help: "Changes found by the last drift check of the applied revision (0: in sync).",
		}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rackctl_watch_held",
			Help: "1 while a plan waits for approval or an allowed window.",
		}),
		failures: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rackctl_watch_consecutive_failures",
			Help: "Failed reconciles in a row (backoff grows with it).",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rackctl_watch_panics_total",
			Help: "Reconciles that panicked and were recovered.",
		}),
		sourceErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rackctl_watch_source_errors_total",
			Help: "Error events of the spec source (fetch failures, missing file, refused commits).",
		}),
		pinned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rackctl_watch_pinned_info",
			Help: "1 for the commit a rollback pin holds the rack at; no series when nothing is pinned.",
		}, []string{"commit"}),
		wave: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rackctl_rollout_wave",
			Help: "The last wave of the last apply's rollout that became healthy (0: none, or no rollout).",
		}),
		stopped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rackctl_rollout_stopped_total",
			Help: "Rollouts stopped because a wave did not become healthy in time.",
		}),
		live: waveProgress{
			inProgress: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "rackctl_rollout_wave_in_progress",
				Help: "The wave of the running apply's rollout being applied or waited on until healthy (0: none).",
			}),
			nodes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "rackctl_rollout_wave_nodes",
				Help: "Nodes of the running (else the last) apply's rollout by state: pending (a later wave, or left untouched by a stop), in_progress, healthy (their wave passed its health gate; without one, its changes succeeded), unhealthy (named by the stop).",
			}, []string{"state"}),
		},
	}
	m.live.publish()
	m.reg.MustRegister(m.lastApplied, m.lastTime, m.duration, m.actions, m.revisions, m.bmc,
		m.drift, m.held, m.failures, m.panics, m.sourceErrs, m.pinned, m.wave, m.stopped, m.live.inProgress, m.live.nodes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds collectors (the notifier's metrics, say) to the
// registry /metrics serves.
func (w *Watcher) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := w.m.reg.Register(c); err != nil {
			return fmt.Errorf("watch metrics: %w", err)
		}
	}
	return nil
}

func (m *metrics) observeResult(res reconcile.Result) {
	for _, c := range res.Done {
		m.actions.WithLabelValues(string(c.Layer), "done").Inc()
	}
	for _, c := range res.Failed {
		m.actions.WithLabelValues(string(c.Change.Layer), "failed").Inc()
	}
	for _, c := range res.NotAttempted {
		m.actions.WithLabelValues(string(c.Layer), "not-attempted").Inc()
	}
	switch {
	case res.Rollout != nil:
		m.wave.Set(float64(res.Rollout.Completed))
		if res.Outcome == reconcile.OutcomeRolloutStopped {
			m.stopped.Inc()
		}
	case res.Outcome != "":
		m.wave.Set(0)
	}
}

// rolloutStarts resets the live rollout metrics for p: every node of its
// waves pending, none when it has none.
func (m *metrics) rolloutStarts(p *reconcile.Plan) {
	lp := &m.live
	lp.waves, lp.count = map[int][]string{}, map[string]int{}
	if p.Rollout != nil {
		for _, w := range p.Rollout.Waves {
			lp.waves[w.Number] = w.Nodes
			lp.count[wavePending] += len(w.Nodes)
		}
	}
	lp.wave = 0
	lp.publish()
}

// observeProgress follows the rollout's events: a wave started, became
// healthy or stopped the rollout.
func (m *metrics) observeProgress(ev reconcile.Event) {
	lp := &m.live
	if ev.Layer != reconcile.LayerRollout {
		return
	}
	nodes := len(lp.waves[ev.Wave])
	switch ev.Status {
	case reconcile.StatusStarted:
		lp.wave = ev.Wave
		lp.count[wavePending] -= nodes
		lp.count[waveInProgress] = nodes
	case reconcile.StatusDone:
		lp.wave = 0
		lp.count[waveInProgress] = 0
		lp.count[waveHealthy] += nodes
	case reconcile.StatusFailed:
		// The stop names the unhealthy nodes (of this wave, or the other
		// controllers it waited for); the wave's others were not seen
		// healthy for the settle time: pending.
		bad := 0
		for _, n := range lp.waves[ev.Wave] {
			if slices.Contains(ev.Nodes, n) {
				bad++
			}
		}
		lp.wave = 0
		lp.count[waveInProgress] = 0
		lp.count[waveUnhealthy] = bad
		lp.count[wavePending] += nodes - bad
	}
	lp.publish()
}

// rolloutEnds: no wave is in progress once the apply returned (cancelled
// in a wave, say); the nodes' counts stay, of the last apply.
func (m *metrics) rolloutEnds() {
	lp := &m.live
	lp.wave = 0
	lp.count[wavePending] += lp.count[waveInProgress]
	lp.count[waveInProgress] = 0
	lp.publish()
}

func (lp *waveProgress) publish() {
	lp.inProgress.Set(float64(lp.wave))
	for _, st := range []string{wavePending, waveInProgress, waveHealthy, waveUnhealthy} {
		lp.nodes.WithLabelValues(st).Set(float64(lp.count[st]))
	}
}

// observeBMC sets the reachability of every BMC the plan read (the
// power states the bmc layer observed).
func (m *metrics) observeBMC(p *reconcile.Plan) {
	for k, v := range p.Observed {
		if k.Layer != reconcile.LayerBMC || k.Aspect != reconcile.AspectPower {
			continue
		}
		up := 1.0
		if v == reconcile.Unreachable {
			up = 0
		}
		m.bmc.WithLabelValues(k.Node).Set(up)
	}
}

// Handler serves GET /metrics, GET /healthz (the loop's Status as JSON)
// and, when Config.Webhook is set, POST /webhook.
func (w *Watcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.m.reg, promhttp.HandlerOpts{Registry: w.m.reg}))
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		st := w.Status()
		rw.Header().Set("Content-Type", "application/json")
		if !st.Running {
			rw.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(rw).Encode(st)
	})
	if w.cfg.Webhook != nil {
		mux.Handle("/webhook", w.cfg.Webhook)
	}
	return mux
}
