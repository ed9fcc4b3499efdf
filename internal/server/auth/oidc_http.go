package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// newOIDCHTTPClient returns the client for every request to the provider:
// the configured CAs, a timeout, and bounded response bodies.
func newOIDCHTTPClient(roots *x509.CertPool) *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{
		Transport: limitedBodyTransport{base: transport, max: maxOIDCResponseBytes},
		Timeout:   oidcRequestTimeout,
	}
}

// limitedBodyTransport bounds every response body: reading past max bytes
// fails with errResponseTooLarge. go-oidc and oauth2 read bodies whole.
type limitedBodyTransport struct {
	base http.RoundTripper
	max  int64
}

var errResponseTooLarge = errors.New("response body too large")

func (t limitedBodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, max: t.max, left: t.max}
	return resp, nil
}

type limitedBody struct {
	io.ReadCloser
	max  int64
	left int64 // bytes still allowed; -1 once the limit was passed
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more tells "exactly max" from "more"
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		n, b.left = int(b.left), -1
		return n, fmt.Errorf("%w (more than %d bytes)", errResponseTooLarge, b.max)
	}
	b.left -= int64(n)
	return n, err
}
