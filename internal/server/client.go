package server

import (
	"context"
	"crypto/ed25519"
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
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want http(s)://host:port", server)
	}
	if token == "" {
		return nil, errors.New("no API token: set --token or $LOCKSTEP_TOKEN")
	}
	if u.Scheme == "http" {
		// The token would cross the network in clear text.
		if err := CheckPlainHTTP(hostPort(u), false, false); err != nil {
			return nil, fmt.Errorf("server %s: the token would be sent in clear text: use https:// (or a loopback address, e.g. through kubectl port-forward)", server)
		}
	}
	return &Client{base: u, token: token, http: &http.Client{Timeout: 10 * time.Minute}}, nil
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
		var e struct{ Error string }
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		if resp.StatusCode == http.StatusNotFound && e.Error == "" {
			e.Error = "not found; is " + c.base.Redacted() + " a Lockstep controller?"
		}
		return nil, fmt.Errorf("%s: %s", resp.Status, e.Error)
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
