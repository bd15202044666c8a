package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rackctl/rackctl/internal/kubefake"
	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/schema"
)

// The tests in this file run against a real kube-apiserver (testenv.StartKube).

const kubelet = testenv.KubeVersion

func TestStatus(t *testing.T) {
	k := testenv.StartKube(t)

	t.Run("reachable", func(t *testing.T) {
		// Controller registered with its FQDN; workers with short names and an
		// FQDN hostname label on one of them.
		putNode(t, k, "lokomotive-controller-0.k8s.localdomain", corev1.ConditionTrue, kubelet, flatcarImage, nil)
		putNode(t, k, "lokomotive-worker-0", corev1.ConditionFalse, kubelet, flatcarImage, nil)
		putNode(t, k, "worker-one", corev1.ConditionTrue, kubelet, "Ubuntu 22.04.3 LTS",
			map[string]string{corev1.LabelHostname: "lokomotive-worker-1.k8s.localdomain"})
		putNode(t, k, "unrelated", corev1.ConditionTrue, kubelet, flatcarImage, nil)

		c := newClient(t, k.Kubeconfig, 10*time.Second, nil)
		names := []string{
			"lokomotive-controller-0",             // short name → FQDN node name
			"lokomotive-worker-0.k8s.localdomain", // FQDN → short node name
			"lokomotive-worker-1.k8s.localdomain", // hostname label
			"lokomotive-worker-2.k8s.localdomain", // missing
		}
		st, err := c.Status(context.Background(), names)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if !st.Reached || st.ServerVersion != testenv.KubeVersion || st.Reason != "" {
			t.Errorf("Status = reached %v version %q reason %q, want reached %s and no reason", st.Reached, st.ServerVersion, st.Reason, testenv.KubeVersion)
		}
		want := map[string]NodeStatus{
			names[0]: {Joined: true, Ready: true, Name: "lokomotive-controller-0.k8s.localdomain", KubeletVersion: kubelet, OSImage: flatcarImage, OSVersion: "3510.2.1"},
			names[1]: {Joined: true, Name: "lokomotive-worker-0", KubeletVersion: kubelet, OSImage: flatcarImage, OSVersion: "3510.2.1",
				Reason: "not ready: Ready=False: KubeletNotReady: container runtime network not ready"},
			names[2]: {Joined: true, Ready: true, Name: "worker-one", KubeletVersion: kubelet, OSImage: "Ubuntu 22.04.3 LTS"},
			names[3]: {Reason: ReasonNotJoined},
		}
		if len(st.Nodes) != len(want) {
			t.Errorf("got %d nodes, want %d: %+v", len(st.Nodes), len(want), st.Nodes)
		}
		for name, w := range want {
			if got := st.Nodes[name]; got != w {
				t.Errorf("node %s:\n got  %+v\n want %+v", name, got, w)
			}
		}
	})

	t.Run("no ready condition", func(t *testing.T) {
		putNode(t, k, "fresh", "", kubelet, flatcarImage, nil)
		st, err := newClient(t, k.Kubeconfig, 10*time.Second, nil).Status(context.Background(), []string{"fresh"})
		if err != nil {
			t.Fatal(err)
		}
		got := st.Nodes["fresh"]
		if !got.Joined || got.Ready || !strings.Contains(got.Reason, "no Ready condition") {
			t.Errorf("fresh node: %+v, want joined, not ready, reason about the missing condition", got)
		}
	})

	// The server answers but refuses: reached, with its answer as the reason.
	tests := map[string]struct {
		kubeconfig func(t *testing.T) string
		reason     string
	}{
		"wrong credential": {
			func(t *testing.T) string { return k.KubeconfigFor(t, "wrong-credential") },
			"Unauthorized",
		},
		"forbidden by RBAC": {
			func(t *testing.T) string { return serviceAccountKubeconfig(t, k, "no-nodes", nil) },
			`User "system:serviceaccount:default:no-nodes" cannot list resource "nodes"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st, err := newClient(t, tc.kubeconfig(t), 10*time.Second, nil).Status(context.Background(), []string{"fresh"})
			if err == nil {
				t.Fatal("Status: want an error")
			}
			if !st.Reached || !strings.Contains(st.Reason, tc.reason) {
				t.Errorf("Status = reached %v reason %q; want reached with a reason containing %q", st.Reached, st.Reason, tc.reason)
			}
			if n := st.Nodes["fresh"]; n.Joined || n.Reason == "" {
				t.Errorf("fresh = %+v, want unknown with a reason", n)
			}
		})
	}
}

// lastingErrs collects the errors of the goroutines that play the kubelets.
type lastingErrs chan error

func (e lastingErrs) check(t *testing.T) {
	t.Helper()
	for {
		select {
		case err := <-e:
			t.Error(err)
		default:
			return
		}
	}
}

func TestWaitReady(t *testing.T) {
	k := testenv.StartKube(t)
	ctx := t.Context()
	modes := map[string]struct {
		kubeconfig func(t *testing.T) string
		user       string
		poll       time.Duration
	}{
		// Poll is an hour: every change must come through the watch.
		"watch": {func(*testing.T) string { return k.Kubeconfig }, "admin", time.Hour},
		// RBAC allows get and list but not watch: WaitReady polls.
		"poll": {func(t *testing.T) string {
			return serviceAccountKubeconfig(t, k, "node-lister", []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list"}}})
		}, "system:serviceaccount:default:node-lister", 100 * time.Millisecond},
	}
	for mode, m := range modes {
		t.Run(mode, func(t *testing.T) {
			p := mode + "-lokomotive-"
			putNode(t, k, p+"controller-0", corev1.ConditionTrue, kubelet, flatcarImage, nil)
			putNode(t, k, p+"worker-0", corev1.ConditionFalse, kubelet, flatcarImage, nil)
			// worker-1 is being reprovisioned: it registers later, then
			// becomes Ready, as its kubelet would.
			errs := make(lastingErrs, 4)
			kubelets := make(chan struct{})
			go func() {
				defer close(kubelets)
				time.Sleep(300 * time.Millisecond)
				if err := k.PutNode(ctx, testenv.Node(p+"worker-1", corev1.ConditionUnknown, kubelet, flatcarImage)); err != nil {
					errs <- err
				}
				time.Sleep(300 * time.Millisecond)
				for _, n := range []string{p + "worker-0", p + "worker-1"} {
					if err := k.SetNodeReady(ctx, n, corev1.ConditionTrue); err != nil {
						errs <- err
					}
				}
			}()
			var prog progressLog
			c := newClient(t, m.kubeconfig(t), 5*time.Second, nil)
			start := time.Now()
			notReady, err := c.WaitReady(context.Background(),
				[]string{p + "controller-0.k8s.localdomain", p + "worker-0", p + "worker-1"},
				WaitOptions{Timeout: 20 * time.Second, Poll: m.poll, Progress: prog.record})
			<-kubelets
			errs.check(t)
			if err != nil || len(notReady) != 0 {
				t.Fatalf("WaitReady = %v, %v; want none, nil", notReady, err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("WaitReady took %s", took)
			}
			calls := prog.get()
			for _, want := range []string{
				p + "controller-0.k8s.localdomain=ready",
				p + "worker-0=notready", p + "worker-0=ready",
				p + "worker-1=missing", p + "worker-1=ready",
			} {
				if !slices.Contains(calls, want) {
					t.Errorf("progress calls %v lack %q", calls, want)
				}
			}
			// Only changes are reported.
			if n := count(calls, p+"controller-0.k8s.localdomain=ready"); n != 1 {
				t.Errorf("controller reported %d times, want once: %v", n, calls)
			}
			// What the server saw: a watch that ran (200), or one RBAC refused
			// (403) and lists after it.
			evs, err := k.Requests("nodes", "rackctl")
			if err != nil {
				t.Fatal(err)
			}
			var watches, lists []int
			for _, ev := range evs {
				if ev.User.Username != m.user || ev.Stage != "ResponseComplete" && ev.Stage != "ResponseStarted" {
					continue
				}
				switch ev.Verb {
				case "watch":
					watches = append(watches, ev.ResponseStatus.Code)
				case "list":
					lists = append(lists, ev.ResponseStatus.Code)
				}
			}
			if mode == "watch" && !slices.Contains(watches, 200) {
				t.Errorf("watch mode: watches %v, want one served (200)", watches)
			}
			if mode == "poll" && (!slices.Contains(watches, 403) || len(lists) < 3) {
				t.Errorf("poll mode: watches %v, lists %v; want a forbidden watch (403) and repeated lists", watches, lists)
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		putNode(t, k, "node-a", corev1.ConditionTrue, kubelet, flatcarImage, nil)
		putNode(t, k, "node-b", corev1.ConditionFalse, kubelet, flatcarImage, nil)
		c := newClient(t, k.Kubeconfig, 5*time.Second, nil)
		start := time.Now()
		notReady, err := c.WaitReady(context.Background(), []string{"node-a", "node-b", "node-c"},
			WaitOptions{Timeout: 800 * time.Millisecond, Poll: 100 * time.Millisecond})
		took := time.Since(start)
		if !errors.Is(err, ErrNotReady) {
			t.Errorf("err = %v, want ErrNotReady", err)
		}
		if !slices.Equal(notReady, []string{"node-b", "node-c"}) {
			t.Errorf("notReady = %v, want [node-b node-c]", notReady)
		}
		if took < 800*time.Millisecond || took > 4*time.Second {
			t.Errorf("WaitReady took %s, want about its 800ms timeout", took)
		}
	})
}

// uiObjects are the UIDs of the Web UI account's objects ("" when absent).
type uiObjects struct{ sa, crb, secret string }

func getUIObjects(t *testing.T, k *testenv.Kube) uiObjects {
	t.Helper()
	ctx, cs := t.Context(), k.Client()
	var o uiObjects
	if sa, err := cs.CoreV1().ServiceAccounts(UINamespace).Get(ctx, UIServiceAccount, metav1.GetOptions{}); err == nil {
		o.sa = string(sa.UID)
	}
	if crb, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, UIBinding, metav1.GetOptions{}); err == nil {
		o.crb = string(crb.UID)
	}
	if s, err := cs.CoreV1().Secrets(UINamespace).Get(ctx, UITokenSecret, metav1.GetOptions{}); err == nil {
		o.secret = string(s.UID)
	}
	return o
}

// deleteUIObjects removes what UIToken creates, so that the next subtest
// starts from an empty cluster.
func deleteUIObjects(t *testing.T, k *testenv.Kube) {
	t.Helper()
	ctx, cs := context.Background(), k.Client()
	for _, err := range []error{
		cs.CoreV1().ServiceAccounts(UINamespace).Delete(ctx, UIServiceAccount, metav1.DeleteOptions{}),
		cs.RbacV1().ClusterRoleBindings().Delete(ctx, UIBinding, metav1.DeleteOptions{}),
		cs.CoreV1().Secrets(UINamespace).Delete(ctx, UITokenSecret, metav1.DeleteOptions{}),
	} {
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete web ui objects: %v", err)
		}
	}
}

// rackctlRequests counts the requests rackctl (its user agent) made with
// verb on resource/subresource.
func rackctlRequests(t *testing.T, k *testenv.Kube, verb, resource, subresource string) int {
	t.Helper()
	evs, err := k.Requests(resource, "rackctl")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Verb == verb && ev.ObjectRef.Subresource == subresource && ev.Stage == "ResponseComplete" {
			n++
		}
	}
	return n
}

const uiUser = "system:serviceaccount:" + UINamespace + ":" + UIServiceAccount

func TestUIToken(t *testing.T) {
	k := testenv.StartKube(t)
	ctx := t.Context()

	t.Run("token request", func(t *testing.T) {
		t.Cleanup(func() { deleteUIObjects(t, k) })
		var logs syncBuffer
		c := newClient(t, k.Kubeconfig, 10*time.Second, &logs)
		tok1, err := c.UIToken(ctx, TokenOptions{})
		if err != nil {
			t.Fatalf("first UIToken: %v", err)
		}
		if who := whoAmI(t, k, tok1); who != uiUser {
			t.Errorf("token authenticates as %q, want %s", who, uiUser)
		}
		if got := jwtLifetime(t, tok1); got != DefaultTokenExpiration {
			t.Errorf("token lifetime %s, want the default %s", got, DefaultTokenExpiration)
		}
		// The binding gives cluster-admin: RBAC lets the token do what the Web UI does.
		if _, err := tokenClient(t, k, tok1).CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("the Web UI token cannot list nodes: %v", err)
		}
		crb, err := k.Client().RbacV1().ClusterRoleBindings().Get(ctx, UIBinding, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("clusterrolebinding not created: %v", err)
		}
		wantRef := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"}
		wantSubj := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "headlamp-admin", Namespace: "kube-system"}}
		if crb.RoleRef != wantRef || !slices.Equal(crb.Subjects, wantSubj) {
			t.Errorf("binding = %+v %+v, want %+v %+v", crb.RoleRef, crb.Subjects, wantRef, wantSubj)
		}
		before := getUIObjects(t, k)

		tok2, err := c.UIToken(ctx, TokenOptions{Expiration: time.Hour})
		if err != nil {
			t.Fatalf("second UIToken: %v", err)
		}
		if tok2 == "" || tok2 == tok1 {
			t.Error("second token: want a new non-empty token")
		}
		if got := jwtLifetime(t, tok2); got != time.Hour {
			t.Errorf("second token lifetime %s, want 1h", got)
		}
		if after := getUIObjects(t, k); after != before || after.sa == "" || after.crb == "" {
			t.Errorf("objects after the second call %+v, want the same %+v (reused)", after, before)
		}
		if n, m := rackctlRequests(t, k, "create", "serviceaccounts", ""), rackctlRequests(t, k, "create", "clusterrolebindings", ""); n != 1 || m != 1 {
			t.Errorf("creates: %d service accounts, %d bindings; want 1 each", n, m)
		}
		if _, err := c.UIToken(ctx, TokenOptions{Expiration: time.Minute}); err == nil {
			t.Error("UIToken with a 1m expiration: want an error")
		}
		for _, tok := range []string{tok1, tok2} {
			if strings.Contains(logs.String(), tok) {
				t.Error("a token appears in the log")
			}
		}
	})

	t.Run("long-lived", func(t *testing.T) {
		t.Cleanup(func() { deleteUIObjects(t, k) })
		var logs syncBuffer
		c := newClient(t, k.Kubeconfig, 10*time.Second, &logs)
		tokenRequests := rackctlRequests(t, k, "create", "serviceaccounts", "token")
		tok, err := c.UIToken(ctx, TokenOptions{LongLived: true})
		if err != nil {
			t.Fatalf("UIToken long-lived: %v", err)
		}
		// Filled by the controller manager's token controller: a legacy token
		// of the account, without expiry.
		if who := whoAmI(t, k, tok); who != uiUser {
			t.Errorf("long-lived token authenticates as %q, want %s", who, uiUser)
		}
		if _, err := tokenClient(t, k, tok).CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("the long-lived token cannot list nodes: %v", err)
		}
		s, err := k.Client().CoreV1().Secrets(UINamespace).Get(ctx, UITokenSecret, metav1.GetOptions{})
		if err != nil || s.Type != corev1.SecretTypeServiceAccountToken || s.Annotations[corev1.ServiceAccountNameKey] != UIServiceAccount {
			t.Fatalf("secret = %+v, %v; want a service-account-token secret for %s", s, err, UIServiceAccount)
		}
		before := getUIObjects(t, k)
		tok2, err := c.UIToken(ctx, TokenOptions{LongLived: true})
		if err != nil || tok2 != tok {
			t.Errorf("second long-lived UIToken: %v; want the same token", err)
		}
		if after := getUIObjects(t, k); after != before {
			t.Errorf("objects after the second call %+v, want the same %+v", after, before)
		}
		if n := rackctlRequests(t, k, "create", "serviceaccounts", "token"); n != tokenRequests {
			t.Errorf("%d TokenRequests on the long-lived path, want none", n-tokenRequests)
		}
		if strings.Contains(logs.String(), tok) {
			t.Error("long-lived token appears in the log")
		}
	})

	foreign := map[string]*rbacv1.ClusterRoleBinding{
		"foreign binding: other role": {
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: UIServiceAccount, Namespace: UINamespace}},
		},
		"foreign binding: other subject": {
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: UIServiceAccount, Namespace: "default"}},
		},
	}
	for name, crb := range foreign {
		t.Run(name, func(t *testing.T) {
			t.Cleanup(func() { deleteUIObjects(t, k) })
			crb.Name = UIBinding
			put, err := k.Client().RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tokenRequests := rackctlRequests(t, k, "create", "serviceaccounts", "token")
			_, err = newClient(t, k.Kubeconfig, 10*time.Second, nil).UIToken(ctx, TokenOptions{})
			if !errors.Is(err, ErrForeignObject) {
				t.Fatalf("err = %v, want ErrForeignObject", err)
			}
			got, err := k.Client().RbacV1().ClusterRoleBindings().Get(ctx, UIBinding, metav1.GetOptions{})
			if err != nil || got.ResourceVersion != put.ResourceVersion {
				t.Errorf("foreign binding was changed: %+v, %v", got, err)
			}
			if n := rackctlRequests(t, k, "create", "serviceaccounts", "token"); n != tokenRequests {
				t.Errorf("%d tokens issued, want none", n-tokenRequests)
			}
		})
	}

	t.Run("existing binding with more subjects", func(t *testing.T) {
		t.Cleanup(func() { deleteUIObjects(t, k) })
		if _, err := k.Client().RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: UIBinding},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{
				{Kind: "User", Name: "ops", APIGroup: rbacv1.GroupName},
				{Kind: "ServiceAccount", Name: UIServiceAccount, Namespace: UINamespace},
			},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		creates := rackctlRequests(t, k, "create", "clusterrolebindings", "")
		tok, err := newClient(t, k.Kubeconfig, 10*time.Second, nil).UIToken(ctx, TokenOptions{})
		if err != nil {
			t.Fatalf("UIToken: %v", err)
		}
		if n := rackctlRequests(t, k, "create", "clusterrolebindings", ""); n != creates {
			t.Errorf("%d bindings created, want the existing one reused", n-creates)
		}
		if _, err := tokenClient(t, k, tok).CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("token through the existing binding cannot list nodes: %v", err)
		}
	})

	t.Run("foreign secret", func(t *testing.T) {
		t.Cleanup(func() { deleteUIObjects(t, k) })
		put, err := k.Client().CoreV1().Secrets(UINamespace).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: UITokenSecret, Namespace: UINamespace},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"token": []byte("not-ours")},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = newClient(t, k.Kubeconfig, 10*time.Second, nil).UIToken(ctx, TokenOptions{LongLived: true})
		if !errors.Is(err, ErrForeignObject) {
			t.Errorf("err = %v, want ErrForeignObject", err)
		}
		if got, err := k.Client().CoreV1().Secrets(UINamespace).Get(ctx, UITokenSecret, metav1.GetOptions{}); err != nil || got.ResourceVersion != put.ResourceVersion {
			t.Errorf("foreign secret was changed: %v", err)
		}
	})
}

// TestUITokenNoTokenController: without the controller manager nothing
// fills a service-account-token Secret, and UIToken says so in time.
func TestUITokenNoTokenController(t *testing.T) {
	k := testenv.StartKubeWith(t, testenv.KubeOptions{NoControllerManager: true})
	start := time.Now()
	_, err := newClient(t, k.Kubeconfig, 10*time.Second, nil).UIToken(context.Background(),
		TokenOptions{LongLived: true, SecretWait: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "did not fill in the token") {
		t.Errorf("err = %v, want a timeout waiting for the token controller", err)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("UIToken took %s, want about its 2s wait", took)
	}
	s, err := k.Client().CoreV1().Secrets(UINamespace).Get(context.Background(), UITokenSecret, metav1.GetOptions{})
	if err != nil || len(s.Data[corev1.ServiceAccountTokenKey]) != 0 {
		t.Errorf("secret %v, %v: want it created and still empty", s, err)
	}
}

func TestHealth(t *testing.T) {
	k := testenv.StartKube(t)
	storage := map[string]string{"metadata.node-type": "storage"}
	putNode(t, k, "ok.rack.local", corev1.ConditionTrue, kubelet, flatcarImage, storage)
	putNode(t, k, "build.rack.local", corev1.ConditionTrue, kubelet+"+lokomotive.1", flatcarImage, storage)
	putNode(t, k, "notready.rack.local", corev1.ConditionFalse, kubelet, flatcarImage, storage)
	putNode(t, k, "old.rack.local", corev1.ConditionTrue, "v1.36.4", flatcarImage, storage)
	putNode(t, k, "labels.rack.local", corev1.ConditionTrue, kubelet, flatcarImage, map[string]string{"metadata.node-type": "compute"})

	want := func(labels map[string]string) HealthWant { return HealthWant{KubeletVersion: "v1.37", Labels: labels} }
	got, err := newClient(t, k.Kubeconfig, 10*time.Second, nil).Health(context.Background(), map[string]HealthWant{
		"ok":               want(storage),
		"build":            want(storage),
		"notready":         want(storage),
		"old":              want(storage),
		"labels":           want(map[string]string{"metadata.node-type": "storage", "rack": "r1"}),
		"missing":          want(nil),
		"ok.rack.local":    {}, // no expectations beyond Ready
		"old.rack.local":   {KubeletVersion: "v1.36.4"},
		"build.rack.local": {KubeletVersion: "v1.37.2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantProblems := map[string][]string{
		"ok":               nil,
		"build":            nil,
		"notready":         {"not ready: Ready=False: KubeletNotReady: container runtime network not ready"},
		"old":              {"kubelet v1.36.4, want v1.37"},
		"labels":           {`label metadata.node-type="compute", want "storage"`, `label rack missing, want "r1"`},
		"missing":          {ReasonNotJoined},
		"ok.rack.local":    nil,
		"old.rack.local":   nil,
		"build.rack.local": nil,
	}
	for name, wp := range wantProblems {
		h, ok := got[name]
		if !ok {
			t.Errorf("%s: no verdict", name)
			continue
		}
		if h.Healthy != (len(wp) == 0) || !slices.Equal(h.Problems, wp) {
			t.Errorf("%s: healthy %v problems %q, want %q", name, h.Healthy, h.Problems, wp)
		}
	}
	if got["old"].Status.KubeletVersion != "v1.36.4" || got["ok"].Status.Name != "ok.rack.local" {
		t.Errorf("statuses: %+v %+v", got["old"].Status, got["ok"].Status)
	}

	// Unknown is not healthy: an API server that cannot be asked is an error.
	c := newClient(t, kubefake.WriteKubeconfig(t, kubefake.ClosedPort(t), nil), time.Second, nil)
	if h, err := c.Health(context.Background(), map[string]HealthWant{"ok": {}}); err == nil || h != nil {
		t.Errorf("Health with no API server = %v, %v; want nil and an error", h, err)
	}
}

func TestKubeletVersionMatches(t *testing.T) {
	tests := []struct {
		got, want string
		match     bool
	}{
		{"v1.37.2", "v1.37.2", true},
		{"1.37.2", "v1.37.2", true},
		{"v1.37.2+lokomotive.1", "v1.37.2", true},
		{"v1.37.2", "v1.37", true},
		{"v1.37.10", "v1.37", true},
		{"v1.37.2+build", "v1.37", true},
		{"v1.37.2-rc.1", "v1.37.2", false},
		{"v1.37.2-rc.1", "v1.37", false},
		{"v1.37.20", "v1.37.2", false},
		{"v1.370.0", "v1.37", false},
		{"v1.36.4", "v1.37", false},
		{"", "v1.37", false},
		{"v1.37.2", "", false},
		{"v1.37.2", "v1", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s~%s", tc.got, tc.want), func(t *testing.T) {
			if got := KubeletVersionMatches(tc.got, tc.want); got != tc.match {
				t.Errorf("KubeletVersionMatches(%q, %q) = %v, want %v", tc.got, tc.want, got, tc.match)
			}
		})
	}
}

func TestExpectedLabels(t *testing.T) {
	r := &schema.Rack{Cluster: schema.Cluster{Labels: map[string]string{"rack": "r1", "tier": "general"}}}
	n := &schema.Node{Name: "w0", Labels: map[string]string{"tier": "storage", "disk": "ssd"}}
	got := ExpectedLabels(r, n)
	want := map[string]string{"rack": "r1", "tier": "storage", "disk": "ssd"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ExpectedLabels = %v, want %v (node labels win)", got, want)
	}
	if r.Cluster.Labels["tier"] != "general" {
		t.Error("ExpectedLabels changed the rack's labels")
	}
	if got := ExpectedLabels(&schema.Rack{}, &schema.Node{}); got == nil || len(got) != 0 {
		t.Errorf("no labels: %v, want an empty map", got)
	}
}
