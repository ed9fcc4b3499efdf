// Package signkey reads and writes the ed25519 keys Lockstep signs with
// (the audit ledger's checkpoints, the container image and the offline
// bundle): private keys as PKCS#8 PEM, public keys as PKIX PEM (or bare
// base64), named by a fingerprint as ssh-keygen names keys.
package signkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// Generate makes a new signing key.
func Generate() (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	return key, err
}

// Fingerprint names a public key as ssh-keygen does: SHA256:base64.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// Marshal encodes a signing key as PKCS#8 PEM, and its public key as PKIX PEM.
func Marshal(key ed25519.PrivateKey) (private, public []byte, err error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	public, err = MarshalPublic(key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), public, nil
}

// MarshalPublic encodes a public key as PKIX PEM.
func MarshalPublic(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivate reads a PKCS#8 PEM ed25519 private key; what names it in
// errors ("ledger signing key").
func ParsePrivate(data []byte, what string) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM \"PRIVATE KEY\" block", what)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T, want ed25519", what, k)
	}
	return ek, nil
}

// ParsePublic reads a PKIX PEM ed25519 public key, or a bare base64 one;
// what names it in errors.
func ParsePublic(data []byte, what string) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("%s: a PEM %q block, not a \"PUBLIC KEY\" (give the .pub file; a private key stays with its owner)", what, block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if ek, ok := k.(ed25519.PublicKey); ok {
			return ek, nil
		}
		return nil, fmt.Errorf("%s: %T, want ed25519", what, k)
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New(what + ": neither PEM nor a base64 ed25519 key")
	}
	return raw, nil
}
