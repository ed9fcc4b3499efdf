package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

// Client calls a controller's API.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

var _ API = (*Client)(nil)

// maxResponse bounds a JSON answer (10,000 records with their changes).
const maxResponse = 256 << 20

// NewClient talks to the API at server (http[s]://host:port) with token.
func NewClient(server, token string) (*Client, error) {
	return NewClientWith(ClientOptions{Server: server, Token: token})
}

// ClientOptions say how to reach an API.
type ClientOptions struct {
	// Server is http(s)://host:port; plain HTTP only to a loopback address.
	Server string
	// Token is a session or API token; empty only for logging in.
	Token string
	// CAData is the PEM of the CA that signed the server's certificate, added
	// to the system's.
	CAData []byte
	// InsecureSkipVerify accepts any certificate (a test server only).
	InsecureSkipVerify bool
	// AllowNoToken lets a client without a token be made, to log in.
	AllowNoToken bool
}

// NewClientWith makes a client from opts.
func NewClientWith(opts ClientOptions) (*Client, error) {
	u, err := url.Parse(opts.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want https://host:port", opts.Server)
	}
	if opts.Token == "" && !opts.AllowNoToken {
		return nil, ErrNotLoggedIn
	}
	if u.Scheme == "http" {
		// The token would cross the network in clear text.
		if err := CheckPlainHTTP(hostPort(u), false, false); err != nil {
			return nil, fmt.Errorf("server %s: the token would be sent in clear text: use https:// (or a loopback address, e.g. through kubectl port-forward)", opts.Server)
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// The API is inside the perimeter: a proxy from the environment would
	// see every token.
	transport.Proxy = nil
	if len(opts.CAData) > 0 || opts.InsecureSkipVerify {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if len(opts.CAData) > 0 && !pool.AppendCertsFromPEM(opts.CAData) {
			return nil, errors.New("the certificate authority holds no PEM certificate")
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, InsecureSkipVerify: opts.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // asked for, for test servers
	}
	return &Client{base: u, token: opts.Token, http: &http.Client{Timeout: 10 * time.Minute, Transport: transport,
		// A redirect could carry the token elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// ErrNotLoggedIn is returned for a client without a credential.
var ErrNotLoggedIn = errors.New("not logged in: run lockstep login --server URL, or set $LOCKSTEP_TOKEN")

// StatusError is an answer other than 2xx, with the server's message.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// do sends a request with a JSON body (when body is not nil) and decodes a
// JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reaching the Lockstep API at %s: %w", c.base.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return c.statusError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return fmt.Errorf("reading the answer to %s: %w", path, err)
	}
	return nil
}

func (c *Client) statusError(resp *http.Response) error {
	var e struct{ Error string }
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(body))
	}
	if resp.StatusCode == http.StatusNotFound && e.Error == "" {
		e.Error = "not found; is " + c.base.Redacted() + " a Lockstep controller?"
	}
	return &StatusError{Code: resp.StatusCode, Message: e.Error}
}

func (c *Client) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reaching the Lockstep API at %s: %w", c.base.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, c.statusError(resp)
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	resp, err := c.get(ctx, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return fmt.Errorf("reading the answer to %s: %w", path, err)
	}
	return nil
}

// Records implements API.
func (c *Client) Records(ctx context.Context, f audit.Filter) ([]audit.Record, error) {
	var out Records
	err := c.getJSON(ctx, PathRecords, FilterQuery(f), &out)
	return out.Records, err
}

// Releases reads what each selected Application runs, since when, and what
// it ran before, in promotion order.
func (c *Client) Releases(ctx context.Context, q ReleaseQuery) (ReleaseList, error) {
	var out ReleaseList
	err := c.getJSON(ctx, PathReleases, q.values(), &out)
	return out, err
}

// Verify implements API.
func (c *Client) Verify(ctx context.Context, trusted ed25519.PublicKey) (audit.Report, error) {
	q := url.Values{}
	if trusted != nil {
		pem, err := audit.MarshalPublicKey(trusted)
		if err != nil {
			return audit.Report{}, err
		}
		q.Set("publicKey", string(pem))
	}
	var rep audit.Report
	err := c.getJSON(ctx, PathVerify, q, &rep)
	return rep, err
}

// Export implements API, streaming the lines as they come.
func (c *Client) Export(ctx context.Context, after uint64, w io.Writer) (int, error) {
	q := url.Values{}
	if after > 0 {
		q.Set("after", strconv.FormatUint(after, 10))
	}
	resp, err := c.get(ctx, PathExport, q)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	cw := &lineCounter{w: w}
	if _, err := io.Copy(cw, resp.Body); err != nil {
		return cw.lines, fmt.Errorf("export cut short after %d records: %w", cw.lines, err)
	}
	if cw.partial {
		return cw.lines, fmt.Errorf("export cut short after %d records: the last line is incomplete", cw.lines)
	}
	return cw.lines, nil
}

// lineCounter counts complete lines passing through.
type lineCounter struct {
	w       io.Writer
	lines   int
	partial bool
}

func (l *lineCounter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		l.lines += strings.Count(string(p), "\n")
		l.partial = p[len(p)-1] != '\n'
	}
	return l.w.Write(p)
}

// Blame implements API.
func (c *Client) Blame(ctx context.Context, req BlameRequest) (audit.Blame, error) {
	q := url.Values{"kind": {req.Kind}, "name": {req.Name}}
	if req.Namespace != "" {
		q.Set("namespace", req.Namespace)
	}
	var b audit.Blame
	err := c.getJSON(ctx, PathBlame, q, &b)
	return b, err
}

// PublicKey fetches the ledger's checkpoint public key.
func (c *Client) PublicKey(ctx context.Context) (PublicKey, error) {
	var k PublicKey
	err := c.getJSON(ctx, PathPublicKey, nil, &k)
	return k, err
}

// hostPort is the URL's host with a port, for CheckPlainHTTP.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
