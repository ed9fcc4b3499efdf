package pki_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/testenv/pki"
)

func parse(t *testing.T, p pki.Pair) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(p.CertPEM)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssuedCertificatesVerifyForTheirUsageOnly(t *testing.T) {
	ca, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	dns, ips := pki.Loopback()
	server, err := ca.Issue(pki.Request{CommonName: "srv", DNSNames: dns, IPs: ips, Usage: pki.Server})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue(pki.Request{CommonName: "alice", Organizations: []string{"system:masters"}, Usage: pki.Client})
	if err != nil {
		t.Fatal(err)
	}
	srv, cli := parse(t, server), parse(t, client)
	if _, err := srv.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("server certificate does not verify for localhost: %v", err)
	}
	if err := srv.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("server certificate lacks 127.0.0.1: %v", err)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("a client certificate verified as a server certificate")
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify: %v", err)
	}
	if cli.Subject.CommonName != "alice" || len(cli.Subject.Organization) != 1 || cli.Subject.Organization[0] != "system:masters" {
		t.Errorf("client subject = %v, want CN=alice O=system:masters (Kubernetes user and group)", cli.Subject)
	}
	other, err := pki.NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: other.Pool(), DNSName: "localhost"}); err == nil {
		t.Error("certificate verified against an unrelated CA")
	}
	if _, err := server.TLS(); err != nil {
		t.Errorf("pair does not load as a TLS certificate: %v", err)
	}
}

func TestWriteKeepsKeysPrivate(t *testing.T) {
	ca, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, err := ca.Write(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{certPath: 0o644, keyPath: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
}
