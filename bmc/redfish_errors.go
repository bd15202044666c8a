package bmc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/stmcginnis/gofish/common"
)

// classifyRedfish turns an error of bmclib, gofish or net/http into one
// wrapping the package's sentinels. The cause is kept for %v, but a BMC's
// reply body is reduced to its Redfish message (a body may be anything).
func classifyRedfish(ctx context.Context, err error, elapsed time.Duration) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{ErrAuth, ErrUnreachable, ErrCommand, ErrCertificate, ErrBootParamMismatch, ErrNotSupported} {
		if errors.Is(err, s) {
			return err
		}
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return timeoutError{after: elapsed.Round(time.Millisecond)}
	}
	var ce *common.Error
	if errors.As(err, &ce) {
		return httpError(ce.HTTPReturnedStatusCode, redfishMessage(ce))
	}
	var (
		ua  x509.UnknownAuthorityError
		ci  x509.CertificateInvalidError
		he  x509.HostnameError
		cve *tls.CertificateVerificationError
	)
	if errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &he) || errors.As(err, &cve) {
		return fmt.Errorf("%w: %v", ErrCertificate, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return timeoutError{after: elapsed.Round(time.Millisecond)}
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	// bmclib flattens some provider errors into strings.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls: "):
		return fmt.Errorf("%w: %s", ErrCertificate, msg)
	case strings.Contains(msg, "401") || strings.Contains(msg, "Unauthorized") || strings.Contains(msg, "not authenticated"):
		return fmt.Errorf("%w: %s", ErrAuth, msg)
	case strings.Contains(msg, "412"):
		return fmt.Errorf("%w: %s", ErrPreconditionFailed, msg)
	case strings.Contains(msg, "connection refused") || strings.Contains(msg, "no route to host") || strings.Contains(msg, "no such host"):
		return fmt.Errorf("%w: %s", ErrUnreachable, msg)
	case strings.Contains(msg, "Client.Timeout") || strings.Contains(msg, "i/o timeout"):
		return timeoutError{after: elapsed.Round(time.Millisecond)}
	}
	return fmt.Errorf("%w: %s", ErrCommand, msg)
}

// httpError classifies a Redfish reply by its status.
func httpError(code int, msg string) error {
	switch code {
	case 401, 403:
		return fmt.Errorf("%w: %d %s", ErrAuth, code, msg)
	case 412:
		return fmt.Errorf("%w: %s", ErrPreconditionFailed, msg)
	case 502, 503, 504:
		return fmt.Errorf("%w: %d %s", ErrUnreachable, code, msg)
	}
	return fmt.Errorf("%w: %d %s", ErrCommand, code, msg)
}

// redfishMessage is the readable part of a Redfish error reply: the
// message and the @Message.ExtendedInfo messages.
func redfishMessage(ce *common.Error) string {
	parts := []string{}
	if ce.Message != "" && !strings.HasPrefix(strings.TrimSpace(ce.Message), "{") {
		parts = append(parts, oneLine(ce.Message))
	}
	for _, x := range ce.ExtendedInfos {
		if x.Message != "" && slices.Contains(parts, oneLine(x.Message)) {
			continue
		}
		if x.Message != "" {
			parts = append(parts, oneLine(x.Message))
		} else if x.MessageID != "" {
			parts = append(parts, x.MessageID)
		}
	}
	if len(parts) == 0 {
		return "(no message)"
	}
	return strings.Join(parts, "; ")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
