package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// Defaults for WaitOptions.
const (
	DefaultWaitTimeout = 20 * time.Minute
	DefaultPoll        = 5 * time.Second
)

// ErrNotReady is returned (wrapped) by WaitReady when some nodes are still not
// Ready when the wait times out.
var ErrNotReady = errors.New("nodes not ready")

// WaitOptions bound WaitReady.
type WaitOptions struct {
	// Timeout bounds the whole wait; zero means DefaultWaitTimeout.
	Timeout time.Duration
	// Poll is the interval between lists when watching is not possible, and
	// the least time between two lists; zero means DefaultPoll.
	Poll time.Duration
	// Progress, if set, is called from the calling goroutine for each node
	// when it is first seen and whenever its status changes.
	Progress func(node string, st NodeStatus)
	// Since, when set, counts a node Ready only when it is Ready anew
	// against this baseline (Baseline.Fresh): a Node left from before the
	// install is reported joined, not Ready, with why.
	Since *Baseline
}

// WaitReady waits until every node in names has joined the cluster and is
// Ready (with opts.Since: Ready anew since that baseline). It lists the nodes, then watches them for changes; when the watch
// cannot be opened it polls every opts.Poll. API errors during the wait are
// retried (the API server may itself be rebooting) until the timeout.
//
// It returns the names (in the given order) that were not Ready at the end:
// empty with a nil error on success; with an error wrapping ErrNotReady on
// timeout, or wrapping ctx's error when ctx ends first.
func (c *Client) WaitReady(ctx context.Context, names []string, opts WaitOptions) ([]string, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultWaitTimeout
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if len(names) == 0 {
		return nil, nil
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	w := &waiter{c: c, names: names, opts: opts, last: map[string]NodeStatus{}, nodes: map[string]corev1.Node{}}
	watchOK := true
	var lastErr error
	for {
		listStart := time.Now()
		rv, err := w.list(ctx)
		if err != nil {
			lastErr = err
			c.log.Debug("wait ready: list nodes", "err", err)
		} else if w.done() {
			return nil, nil
		}

		if err == nil && watchOK {
			watchOK, err = w.watch(ctx, rv)
			if err != nil {
				lastErr = err
			}
			if w.done() {
				return nil, nil
			}
		}
		if ctx.Err() != nil {
			break
		}
		// At least Poll between two lists, also after a watch that ended early.
		if d := opts.Poll - time.Since(listStart); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		if ctx.Err() != nil {
			break
		}
	}

	notReady := w.notReady()
	if err := parent.Err(); err != nil {
		return notReady, fmt.Errorf("cluster: wait for nodes ready: %w", err)
	}
	err := fmt.Errorf("cluster: %d of %d nodes not ready after %s: %w", len(notReady), len(names), opts.Timeout, ErrNotReady)
	if lastErr != nil && len(w.last) == 0 {
		err = fmt.Errorf("cluster: %d of %d nodes not ready after %s (last api error: %v): %w", len(notReady), len(names), opts.Timeout, lastErr, ErrNotReady)
	}
	return notReady, err
}

type waiter struct {
	c     *Client
	names []string
	opts  WaitOptions
	nodes map[string]corev1.Node // by Node name: the cluster as last seen
	last  map[string]NodeStatus  // by expected name: last reported status
}

// list replaces the known nodes and evaluates; it returns the list's
// resourceVersion for the watch.
func (w *waiter) list(ctx context.Context) (string, error) {
	lctx, cancel := w.c.withTimeout(ctx)
	defer cancel()
	list, err := w.c.cs.CoreV1().Nodes().List(lctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list nodes: %w", err)
	}
	w.nodes = make(map[string]corev1.Node, len(list.Items))
	for _, n := range list.Items {
		w.nodes[n.Name] = n
	}
	w.evaluate()
	return list.ResourceVersion, nil
}

// watch applies node events from resourceVersion rv until all are Ready, the
// watch ends or ctx ends. It returns false when watching is not possible at
// all (the caller then polls).
func (w *waiter) watch(ctx context.Context, rv string) (bool, error) {
	// The server ends the watch after timeoutSeconds; re-list then.
	secs := int64(5 * 60)
	if dl, ok := ctx.Deadline(); ok {
		if left := int64(time.Until(dl).Seconds()) + 1; left < secs {
			secs = left
		}
	}
	wi, err := w.c.watchCS.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{
		ResourceVersion: rv, TimeoutSeconds: &secs, AllowWatchBookmarks: true,
	})
	if err != nil {
		if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err) {
			w.c.log.Info("wait ready: cannot watch nodes, polling instead", "err", err)
			return false, fmt.Errorf("watch nodes: %w", err)
		}
		return true, fmt.Errorf("watch nodes: %w", err)
	}
	defer wi.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return true, nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				if n, ok := ev.Object.(*corev1.Node); ok {
					w.nodes[n.Name] = *n
				}
			case watch.Deleted:
				if n, ok := ev.Object.(*corev1.Node); ok {
					delete(w.nodes, n.Name)
				}
			case watch.Bookmark:
				continue
			case watch.Error:
				// Typically 410 Gone: the resourceVersion is too old; re-list.
				return true, fmt.Errorf("watch nodes: %w", apierrors.FromObject(ev.Object))
			}
			w.evaluate()
			if w.done() {
				return true, nil
			}
		}
	}
}

// evaluate matches the expected names against the known nodes and reports
// changes.
func (w *waiter) evaluate() {
	items := make([]corev1.Node, 0, len(w.nodes))
	for _, n := range w.nodes {
		items = append(items, n)
	}
	slices.SortFunc(items, func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	idx := newNodeIndex(items)
	for _, name := range w.names {
		st := idx.status(name)
		if st.Ready && w.opts.Since != nil {
			if ok, why := w.opts.Since.Fresh(name, idx.find(name)); !ok {
				st.Ready, st.Reason = false, "not ready anew: "+why
			}
		}
		prev, seen := w.last[name]
		if seen && prev == st {
			continue
		}
		w.last[name] = st
		w.c.log.Debug("node status", "node", name, "joined", st.Joined, "ready", st.Ready, "reason", st.Reason)
		if w.opts.Progress != nil {
			w.opts.Progress(name, st)
		}
	}
}

func (w *waiter) done() bool { return len(w.notReady()) == 0 }

func (w *waiter) notReady() []string {
	var out []string
	for _, name := range w.names {
		if !w.last[name].Ready {
			out = append(out, name)
		}
	}
	return out
}
