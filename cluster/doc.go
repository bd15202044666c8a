// Package cluster talks to the Kubernetes API of a Lokomotive rack through
// client-go.
//
// It answers three questions that Racker's runbook answered by hand with
// kubectl and `racker status`:
//
//   - Is the API server reached, and which version does it run? ([Client.Status])
//   - Has each expected node joined the cluster, is it Ready, and which kubelet
//     and Flatcar Container Linux versions does it report? ([Client.Status]);
//     apply's verify phase waits for reprovisioned nodes to come back with
//     [Client.WaitReady], which watches the nodes and falls back to polling;
//     against a [Baseline] listed before the apply it counts a node only when
//     it is Ready anew (a new Node, a new boot ID, or without boot IDs a later
//     Ready transition), never a Node left Ready from before the install.
//   - Is a node healthy enough for a rollout to go on? [Client.Health]: Ready,
//     the expected kubelet release and labels.
//   - What token logs in to the Lokomotive Web UI (Headlamp)? [Client.UIToken]
//     ensures the headlamp-admin service account in kube-system, bound to
//     cluster-admin, and returns a TokenRequest token (or, when asked, the
//     token of a long-lived service-account-token Secret). [PortForwardHint]
//     tells how to reach the UI from the management node.
//
// The client is configured by a kubeconfig path; [DefaultKubeconfig] picks
// Lokomotive's assets kubeconfig when it exists. Nothing blocks longer than the
// configured timeout: every request has both a context deadline and an HTTP
// client timeout, so an API server that accepts connections and never answers
// is reported as not reached instead of hanging.
//
// Expected node names may be given as FQDNs (lokomotive-worker-0.k8s.localdomain)
// or short names (lokomotive-worker-0): a name matches a Node whose name or
// kubernetes.io/hostname label equals it, or whose short form equals its short
// form.
//
// Tokens are secrets: they are returned to the caller and never logged.
package cluster
