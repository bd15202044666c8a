// Package notify tells people what `rackctl watch` did, without their
// polling for it. It owns three things:
//
//   - the event model ([Event], JSON format [FormatVersion]): what an
//     operator is told, built from the watch loop's records
//     ([FromRecord] over state.WatchEvent) — a commit applied with its
//     change counts, held (why, which limit, the `rackctl approve` command),
//     rejected (a refused signature or an invalid spec with its positioned
//     errors), an apply that failed (phase, nodes), drift found or fixed,
//     node installs that failed or timed out. An outcome it does not know
//     (a newer watch) becomes a generic [KindOther] event, never nothing;
//   - the targets an event goes to ([Target]): a generic webhook (JSON
//     body, optional HMAC-SHA256 signature header), a Slack-compatible
//     incoming webhook and a command run without a shell with the event on
//     its stdin. URLs and secrets are read from files: a Slack URL is a
//     credential, so neither it nor a secret reaches argv, the environment,
//     logs or `config view`;
//   - delivery ([Notifier]): one bounded queue and one sender per target,
//     so a dead target delays only itself; [Notifier.Notify] only enqueues
//     (it runs on the watch loop's goroutine); a full queue drops its oldest
//     event and counts it; a failed send is retried with exponential
//     backoff and jitter; outcomes are Prometheus metrics
//     (rackctl_notify_*) and log lines.
//
// The management node config's `notifications:` section (package config)
// lists the targets; cmd/rackctl wires them into watch and into
// `rackctl notify test`.
package notify
