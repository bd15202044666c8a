package notify

import "github.com/prometheus/client_golang/prometheus"

// metrics are the notifier's; Collectors hands them to a registry (watch
// serves them on its /metrics).
type metrics struct {
	sent    *prometheus.CounterVec
	retries *prometheus.CounterVec
	dropped *prometheus.CounterVec
	queue   *prometheus.GaugeVec
	lastOK  *prometheus.GaugeVec
}

func newMetrics() *metrics {
	return &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rackctl_notify_sent_total",
			Help: "Notifications by target and outcome: ok (delivered) or failed (given up after its attempts, or refused for good).",
		}, []string{"target", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rackctl_notify_retries_total",
			Help: "Failed attempts that were retried, by target.",
		}, []string{"target"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rackctl_notify_dropped_total",
			Help: "Notifications dropped unsent because the target's queue was full (the oldest go first).",
		}, []string{"target"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rackctl_notify_queue_length",
			Help: "Notifications waiting for the target (not counting the one being sent).",
		}, []string{"target"}),
		lastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rackctl_notify_last_success_timestamp_seconds",
			Help: "When the target last took a notification, Unix time.",
		}, []string{"target"}),
	}
}

// Collectors are the notifier's metrics, for a registry.
func (n *Notifier) Collectors() []prometheus.Collector {
	return []prometheus.Collector{n.m.sent, n.m.retries, n.m.dropped, n.m.queue, n.m.lastOK}
}
