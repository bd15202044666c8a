package watch

import (
	"encoding/json"
	"fmt"
	"net/http"

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
}

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
	}
	m.reg.MustRegister(m.lastApplied, m.lastTime, m.duration, m.actions, m.revisions, m.bmc,
		m.drift, m.held, m.failures, m.panics, m.sourceErrs, m.pinned, m.wave, m.stopped,
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
