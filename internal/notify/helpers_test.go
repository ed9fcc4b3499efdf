package notify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// sample is a message as a failed sync produces it.
func sample() Message {
	return Message{
		Trigger:     SyncFailed,
		Severity:    Error,
		Time:        time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		Application: "team-a/web",
		Project:     "team-a",
		Namespace:   "web",
		Repository:  "https://git.internal/team-a/web.git",
		Revision:    "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
		Author:      "Jane Doe <jane@example.org>",
		Committer:   "Git Server <git@example.org>",
		Subject:     "Bump the image",
		Approvers:   []string{"Bob <bob@example.org>", "Eve <eve@example.org>"},
		Sync:        "OutOfSync",
		Health:      "Healthy",
		Reason:      "ApplyFailed",
		Summary:     "Deployment/web/web: admission webhook denied the request",
		Records:     []RecordRef{{Seq: 12, Hash: "sha256:aa"}, {Seq: 13, Hash: "sha256:bb"}},
		URL:         "https://lockstep.internal/applications/team-a/web",
	}
}

// fixedClock is a Config.Now that never moves.
func fixedClock() time.Time { return time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC) }

// recorded is one request a test receiver got.
type recorded struct {
	Method, Path string // Path as sent, escaped
	Header       http.Header
	Body         []byte
	At           time.Time
}

// receiver is a real HTTP server that records what it is sent and answers
// with answer (200 when nil).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []recorded
	answer func(n int, w http.ResponseWriter, r *http.Request) // n: 1 for the first request
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: body, At: time.Now()})
	n := len(rc.got)
	rc.mu.Unlock()
	if rc.answer != nil {
		rc.answer(n, w, r)
	}
}

func (rc *receiver) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.got...)
}

func mustNew(t *testing.T, c Config) Provider {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// testCA makes a CA and a certificate it signed for 127.0.0.1 and
// localhost, for TLS receivers behind an "internal" CA.
func testCA(t *testing.T) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Internal CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
}

// deliveryError asserts err is a *DeliveryError and returns it.
func deliveryError(t *testing.T, err error) *DeliveryError {
	t.Helper()
	de, ok := err.(*DeliveryError)
	if !ok {
		t.Fatalf("error %v (%T) is not a *DeliveryError", err, err)
	}
	return de
}
