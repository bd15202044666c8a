package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The Web UI account, as in Racker's after-provisioning guide.
const (
	UINamespace      = "kube-system"
	UIServiceAccount = "headlamp-admin"
	UIBinding        = "headlamp-admin"
	UIClusterRole    = "cluster-admin"
	// UITokenSecret is the long-lived token Secret's name.
	UITokenSecret = "headlamp-admin-token"
)

// PortForwardHint is the command, run on the management node, that makes the
// Lokomotive Web UI reachable at http://127.0.0.1:8080 (Racker's guide,
// "Accessing the Web UI").
const PortForwardHint = "kubectl -n lokomotive-system port-forward svc/web-ui 8080:80"

// SSHTunnelHint forwards the management node's port 8080 to the operator's
// computer (Racker's guide; MGMTNODE is the management node's address, add
// -J USER@JUMPBOX to go through a bastion host).
const SSHTunnelHint = "ssh -L 127.0.0.1:8080:127.0.0.1:8080 -N core@MGMTNODE"

// UIURL is where the Web UI answers once both forwards run.
const UIURL = "http://127.0.0.1:8080"

// Token defaults and bounds.
const (
	DefaultTokenExpiration = 24 * time.Hour
	// MinTokenExpiration is the API server's lower bound for a TokenRequest.
	MinTokenExpiration  = 10 * time.Minute
	DefaultSecretWait   = 30 * time.Second
	secretPollInterval  = 200 * time.Millisecond
	serviceAccountToken = corev1.ServiceAccountTokenKey
)

// ErrForeignObject is returned (wrapped) when an object with the Web UI
// account's name exists but does not say what rackctl would have created (a
// binding to another role or subject, a Secret of another type or account).
// rackctl does not change it: fix or delete it by hand.
var ErrForeignObject = errors.New("exists with a different meaning")

// TokenOptions choose the kind of Web UI token.
type TokenOptions struct {
	// LongLived asks for the token of a kubernetes.io/service-account-token
	// Secret, which never expires (until the Secret is deleted). Without it a
	// TokenRequest token valid for Expiration is returned.
	LongLived bool
	// Expiration of a TokenRequest token; zero means DefaultTokenExpiration.
	// The API server may shorten it.
	Expiration time.Duration
	// SecretWait bounds the wait for the token controller to fill a new
	// long-lived Secret; zero means DefaultSecretWait.
	SecretWait time.Duration
}

// UIToken ensures the headlamp-admin service account in kube-system and its
// cluster-admin ClusterRoleBinding, then returns a token for it. Existing
// objects are reused; one that points elsewhere is an error wrapping
// ErrForeignObject and is left unchanged. The token is never logged.
func (c *Client) UIToken(ctx context.Context, opts TokenOptions) (string, error) {
	if opts.Expiration == 0 {
		opts.Expiration = DefaultTokenExpiration
	}
	if !opts.LongLived && opts.Expiration < MinTokenExpiration {
		return "", fmt.Errorf("cluster: ui token: expiration %s is below the API server's minimum %s", opts.Expiration, MinTokenExpiration)
	}
	if opts.SecretWait <= 0 {
		opts.SecretWait = DefaultSecretWait
	}
	if err := c.ensureServiceAccount(ctx); err != nil {
		return "", err
	}
	if err := c.ensureBinding(ctx); err != nil {
		return "", err
	}
	if opts.LongLived {
		return c.secretToken(ctx, opts.SecretWait)
	}
	return c.requestToken(ctx, opts.Expiration)
}

func (c *Client) ensureServiceAccount(ctx context.Context) error {
	sas := c.cs.CoreV1().ServiceAccounts(UINamespace)
	rctx, cancel := c.withTimeout(ctx)
	defer cancel()
	_, err := sas.Get(rctx, UIServiceAccount, metav1.GetOptions{})
	if err == nil {
		c.log.Debug("service account exists", "namespace", UINamespace, "name", UIServiceAccount)
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("cluster: get service account %s/%s: %w", UINamespace, UIServiceAccount, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Name: UIServiceAccount, Namespace: UINamespace,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "rackctl"},
	}}
	if _, err := sas.Create(rctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cluster: create service account %s/%s: %w", UINamespace, UIServiceAccount, err)
	}
	c.log.Info("created service account", "namespace", UINamespace, "name", UIServiceAccount)
	return nil
}

func (c *Client) ensureBinding(ctx context.Context) error {
	crbs := c.cs.RbacV1().ClusterRoleBindings()
	rctx, cancel := c.withTimeout(ctx)
	defer cancel()
	crb, err := crbs.Get(rctx, UIBinding, metav1.GetOptions{})
	if err == nil {
		return checkBinding(crb)
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("cluster: get clusterrolebinding %s: %w", UIBinding, err)
	}
	want := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: UIBinding, Labels: map[string]string{"app.kubernetes.io/managed-by": "rackctl"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: UIClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: UIServiceAccount, Namespace: UINamespace}},
	}
	_, err = crbs.Create(rctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Created concurrently: check what is there now.
		got, err := crbs.Get(rctx, UIBinding, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("cluster: get clusterrolebinding %s: %w", UIBinding, err)
		}
		return checkBinding(got)
	}
	if err != nil {
		return fmt.Errorf("cluster: create clusterrolebinding %s: %w", UIBinding, err)
	}
	c.log.Info("created clusterrolebinding", "name", UIBinding, "clusterrole", UIClusterRole)
	return nil
}

// checkBinding accepts a binding of cluster-admin that includes the service
// account among its subjects.
func checkBinding(crb *rbacv1.ClusterRoleBinding) error {
	if crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != UIClusterRole {
		return fmt.Errorf("cluster: clusterrolebinding %s binds %s %q, not ClusterRole %q: %w",
			UIBinding, crb.RoleRef.Kind, crb.RoleRef.Name, UIClusterRole, ErrForeignObject)
	}
	ok := slices.ContainsFunc(crb.Subjects, func(s rbacv1.Subject) bool {
		return s.Kind == rbacv1.ServiceAccountKind && s.Name == UIServiceAccount && s.Namespace == UINamespace
	})
	if !ok {
		return fmt.Errorf("cluster: clusterrolebinding %s has no subject ServiceAccount %s/%s: %w",
			UIBinding, UINamespace, UIServiceAccount, ErrForeignObject)
	}
	return nil
}

func (c *Client) requestToken(ctx context.Context, exp time.Duration) (string, error) {
	secs := int64(exp / time.Second)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}
	rctx, cancel := c.withTimeout(ctx)
	defer cancel()
	got, err := c.cs.CoreV1().ServiceAccounts(UINamespace).CreateToken(rctx, UIServiceAccount, tr, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("cluster: request token for %s/%s: %w", UINamespace, UIServiceAccount, err)
	}
	if got.Status.Token == "" {
		return "", fmt.Errorf("cluster: request token for %s/%s: api server returned an empty token", UINamespace, UIServiceAccount)
	}
	c.log.Info("issued web ui token", "serviceaccount", UINamespace+"/"+UIServiceAccount,
		"expires", got.Status.ExpirationTimestamp.Time.Format(time.RFC3339))
	return got.Status.Token, nil
}

// secretToken ensures the long-lived token Secret and waits, bounded by wait,
// until the token controller has filled it.
func (c *Client) secretToken(ctx context.Context, wait time.Duration) (string, error) {
	secrets := c.cs.CoreV1().Secrets(UINamespace)
	if err := c.ensureTokenSecret(ctx); err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	deadline, _ := wctx.Deadline()
	t := time.NewTicker(secretPollInterval)
	defer t.Stop()
	for {
		rctx, rcancel := c.withTimeout(wctx)
		s, err := secrets.Get(rctx, UITokenSecret, metav1.GetOptions{})
		rcancel()
		switch {
		case err == nil:
			if err := checkTokenSecret(s); err != nil {
				return "", err
			}
			if tok := s.Data[serviceAccountToken]; len(tok) > 0 {
				c.log.Info("read long-lived web ui token", "secret", UINamespace+"/"+UITokenSecret)
				return string(tok), nil
			}
		case wctx.Err() == nil && time.Now().Before(deadline):
			// A request that fails at the wait's deadline fails because of it,
			// whatever layer says so first (client-go's rate limiter refuses a
			// context whose deadline has passed before its timer closed Done):
			// that is the timeout below, not an API error.
			return "", fmt.Errorf("cluster: get secret %s/%s: %w", UINamespace, UITokenSecret, err)
		}
		select {
		case <-wctx.Done():
			if err := ctx.Err(); err != nil {
				return "", fmt.Errorf("cluster: wait for token in secret %s/%s: %w", UINamespace, UITokenSecret, err)
			}
			return "", fmt.Errorf("cluster: secret %s/%s: token controller did not fill in the token within %s", UINamespace, UITokenSecret, wait)
		case <-t.C:
		}
	}
}

func (c *Client) ensureTokenSecret(ctx context.Context) error {
	secrets := c.cs.CoreV1().Secrets(UINamespace)
	rctx, cancel := c.withTimeout(ctx)
	defer cancel()
	s, err := secrets.Get(rctx, UITokenSecret, metav1.GetOptions{})
	if err == nil {
		return checkTokenSecret(s)
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("cluster: get secret %s/%s: %w", UINamespace, UITokenSecret, err)
	}
	want := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: UITokenSecret, Namespace: UINamespace,
			Annotations: map[string]string{corev1.ServiceAccountNameKey: UIServiceAccount},
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "rackctl"},
		},
		Type: corev1.SecretTypeServiceAccountToken,
	}
	if _, err := secrets.Create(rctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cluster: create secret %s/%s: %w", UINamespace, UITokenSecret, err)
	}
	c.log.Info("created long-lived token secret", "secret", UINamespace+"/"+UITokenSecret)
	return nil
}

func checkTokenSecret(s *corev1.Secret) error {
	if s.Type != corev1.SecretTypeServiceAccountToken || s.Annotations[corev1.ServiceAccountNameKey] != UIServiceAccount {
		return fmt.Errorf("cluster: secret %s/%s is of type %q for service account %q, not a token of %s: %w",
			UINamespace, UITokenSecret, s.Type, s.Annotations[corev1.ServiceAccountNameKey], UIServiceAccount, ErrForeignObject)
	}
	return nil
}
