package reconcile

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// An API server restarting or out of reach is a transient failure, retried
// as it is; a refusal that needs a change is not. (Before this, a connection
// refused while planning stalled the Application until its next interval.)
func TestTransientAPIErrors(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	gr := schema.GroupResource{Resource: "configmaps"}
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("ConfigMap/x: reading: %w", refused), true},
		{errors.Join(errors.New("a bad one"), fmt.Errorf("reading: %w", refused)), true},
		{fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{&url.Error{Op: "Get", URL: "u", Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}, true},
		{apierrors.NewServiceUnavailable("starting"), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{apierrors.NewForbidden(gr, "x", errors.New("no")), false},
		{apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "x", nil), false},
		{errors.New("field is immutable"), false},
		{&url.Error{Op: "Get", URL: "u", Err: x509.UnknownAuthorityError{}}, false},
		{&url.Error{Op: "Get", URL: "u", Err: &net.DNSError{Err: "no such host", Name: "remote", IsNotFound: true}}, false},
		{nil, false},
	} {
		if got := isTransientAPIError(tt.err); got != tt.want {
			t.Errorf("isTransientAPIError(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
