package pki_test

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/testenv/pki"
)

// The loopback CA is kept between runs, signs for loopback, and cannot sign
// for anything else.
func TestALoopbackCAIsKeptAndConstrained(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	first, err := pki.LoopbackCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	again, err := pki.LoopbackCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if !first.Cert.Equal(again.Cert) {
		t.Error("the second run made a new CA")
	}
	verify := func(p pki.Pair, host string) error {
		tlsCert, err := p.TLS()
		if err != nil {
			return err
		}
		leaf, err := x509.ParseCertificate(tlsCert.Certificate[0])
		if err != nil {
			return err
		}
		_, err = leaf.Verify(x509.VerifyOptions{Roots: again.Pool(), DNSName: host})
		return err
	}
	dns, ips := pki.Loopback()
	local, err := again.Issue(pki.Request{CommonName: "api", DNSNames: dns, IPs: ips, Usage: pki.Server})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := verify(local, host); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	for _, req := range []pki.Request{
		{CommonName: "bank", DNSNames: []string{"bank.example.com"}, Usage: pki.Server},
		{CommonName: "lan", IPs: []net.IP{net.IPv4(10, 0, 0, 1)}, Usage: pki.Server},
	} {
		p, err := again.Issue(req)
		if err != nil {
			continue // refusing to issue is fine too
		}
		host := "bank.example.com"
		if len(req.IPs) > 0 {
			host = req.IPs[0].String()
		}
		if err := verify(p, host); err == nil {
			t.Errorf("the loopback CA vouches for %s", host)
		}
	}
	// A CA that is not the constrained kind is refused.
	plain, err := pki.NewCA("unconstrained")
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "ca")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := plain.Pair.Write(other, "ca"); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoopbackCA(other, "test-ca"); err == nil {
		t.Error("an unconstrained CA was kept")
	}
	// A damaged CA is reported, not silently replaced.
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoopbackCA(dir, "test-ca"); err == nil {
		t.Error("a damaged CA was accepted")
	}
}
