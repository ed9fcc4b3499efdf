package pki

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// loopbackValidity of a loopback CA: a developer imports it into a browser
// once, not every month.
const loopbackValidity = 2 * 365 * 24 * time.Hour

// LoopbackCA loads the CA kept in dir (ca.crt, ca.key), or makes one and
// keeps it there, so that a browser that trusts it keeps trusting the next
// run's certificates. The CA may only sign for localhost and loopback
// addresses (critical name constraints): importing it trusts nothing else,
// even should its key leak. A CA that expires within 30 days is replaced.
func LoopbackCA(dir, commonName string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	ca, err := loadCA(certPath, keyPath)
	if err == nil && time.Until(ca.Cert.NotAfter) > 30*24*time.Hour {
		return ca, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (remove it to make a new CA)", dir, err)
	}
	if ca, err = newLoopbackCA(commonName); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if _, _, err := ca.Pair.Write(dir, "ca"); err != nil {
		return nil, err
	}
	return ca, nil
}

func newLoopbackCA(commonName string) (*CA, error) {
	tmpl := caTemplate(commonName, loopbackValidity)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.PermittedDNSDomainsCritical = true
	tmpl.PermittedDNSDomains = []string{"localhost"}
	tmpl.PermittedIPRanges = []*net.IPNet{
		{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
		{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
	}
	return selfSigned(tmpl)
}

func loadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("not a PEM certificate and key")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("the certificate is not a CA or does not match the key")
	}
	// A kept CA must still be the constrained one this package makes: one
	// put there by hand (or by an older version) is not used.
	if !cert.PermittedDNSDomainsCritical || !slices.Equal(cert.PermittedDNSDomains, []string{"localhost"}) || len(cert.PermittedIPRanges) != 2 ||
		!slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		return nil, errors.New("the kept CA is not limited to serving localhost and loopback")
	}
	return &CA{Cert: cert, Key: crypto.Signer(key), Pair: Pair{CertPEM: certPEM, KeyPEM: keyPEM}}, nil
}
