package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lockstep-dev/lockstep/internal/version"
)

// What an HTTP provider reads of an answer that is not a success: enough
// for the receiver's reason, never a page.
const (
	maxErrorBody   = 1 << 10
	maxErrorSnip   = 300
	maxDrainBody   = 64 << 10 // read past the snippet so the connection can be reused
	maxRedirects   = 3
	maxRetryAfter  = time.Hour // longer than any dispatcher budget: it gives up instead
	redactedMarker = "[redacted]"
)

// httpSender posts to one receiver for the HTTP providers. It is safe for
// concurrent use.
type httpSender struct {
	kind     Type
	client   *http.Client
	endpoint string   // scheme://host: all that errors name of the address
	secrets  []string // redacted from what a receiver answers, longest first
	now      func() time.Time
	// auth sets the request's credentials (nil: none).
	auth func(*http.Request)
	// bodyRetryAfter reads a wait from an answer's body when it has no
	// Retry-After header (nil: none).
	bodyRetryAfter func(body []byte) time.Duration
}

// newHTTPSender builds the client every HTTP provider uses:
//   - a timeout per request (Config.Timeout);
//   - TLS 1.2 or later, verified against Config.RootCAs when given (an
//     internal CA), else the system's roots;
//   - the proxy from HTTPS_PROXY, HTTP_PROXY and NO_PROXY, as Go's default
//     client and Lockstep's Git fetches honour them: a receiver the proxy
//     must not carry belongs in NO_PROXY;
//   - redirects followed only when they keep the method and body (307,
//     308), the host, and TLS; any other is refused, so a receiver cannot
//     send the message (or a bearer token) elsewhere.
func newHTTPSender(c Config, u *url.URL) (*httpSender, error) {
	creds := c.Token != "" || c.Username != "" || c.Password != ""
	if creds && u.Scheme == "http" && !c.Insecure {
		return nil, errors.New("credentials over http:// would travel in plain text: use https:// (or set insecure)")
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
	h := &httpSender{
		kind:     c.Type,
		endpoint: endpoint(u),
		secrets:  secretsOf(c, u),
		now:      c.now(),
		client: &http.Client{
			Transport:     transport,
			Timeout:       timeout,
			CheckRedirect: checkRedirect,
		},
	}
	return h, nil
}

// redirectError is a redirect refused; it names the target's scheme and
// host only.
type redirectError struct{ to string }

func (e *redirectError) Error() string {
	return "redirected to " + e.to + ": only a 307 or 308 to the same host over the same or stronger TLS is followed"
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	switch {
	case req.Response != nil && req.Response.StatusCode != http.StatusTemporaryRedirect && req.Response.StatusCode != http.StatusPermanentRedirect:
		// 301, 302 and 303 turn a POST into a GET without its body: the
		// answer is reported as it is.
		return http.ErrUseLastResponse
	case req.URL.Host != first.Host, first.Scheme == "https" && req.URL.Scheme != "https":
		return &redirectError{to: req.URL.Scheme + "://" + req.URL.Host}
	case len(via) > maxRedirects:
		return fmt.Errorf("more than %d redirects", maxRedirects)
	}
	return nil
}

// send makes one request: body as JSON to target with method, and the
// extra headers. It returns nil on a 2xx answer and a *DeliveryError
// otherwise.
func (h *httpSender) send(ctx context.Context, method, target string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("%s %s: building the request: %w", h.kind, h.endpoint, unwrapURLError(err))}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Lockstep/"+version.Version)
	for k, v := range header {
		req.Header[k] = v
	}
	if h.auth != nil {
		h.auth(req)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return h.transportError(err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return h.statusError(resp, snippet)
}

// transportError classifies a request that got no answer. Timeouts,
// refused or reset connections and unknown hosts may pass (a receiver
// restarting, DNS catching up); a certificate that does not verify or a
// refused redirect will not until the configuration changes.
func (h *httpSender) transportError(err error) *DeliveryError {
	err = unwrapURLError(err)
	retry := true
	var (
		redirect   *redirectError
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verifyFail *tls.CertificateVerificationError
	)
	if errors.As(err, &redirect) || errors.As(err, &unknownCA) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verifyFail) {
		retry = false
	}
	return &DeliveryError{Retry: retry, Err: fmt.Errorf("%s %s: %w", h.kind, h.endpoint, err)}
}

// unwrapURLError drops *url.Error, whose message quotes the whole URL (a
// webhook's token included), keeping the cause.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// statusError classifies an answer that is not a success: 408, 425, 429
// and 5xx may pass on a later try (429 and 503 after their Retry-After);
// any other 4xx (a wrong address, token or payload) will not.
func (h *httpSender) statusError(resp *http.Response, body []byte) *DeliveryError {
	code := resp.StatusCode
	retry := code == http.StatusRequestTimeout || code == http.StatusTooEarly ||
		code == http.StatusTooManyRequests || code >= 500
	msg := fmt.Sprintf("%s %s: the receiver answered %s", h.kind, h.endpoint, resp.Status)
	if s := h.snippet(body); s != "" {
		msg += ": " + s
	}
	de := &DeliveryError{Retry: retry, Err: errors.New(msg)}
	if retry {
		de.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), h.now())
		if de.RetryAfter == 0 && h.bodyRetryAfter != nil {
			de.RetryAfter = h.bodyRetryAfter(body)
		}
	}
	return de
}

// snippet is the start of a receiver's answer fit for an error message:
// one line of valid text, every secret of the configuration (a receiver
// may echo the URL it was called at) replaced.
func (h *httpSender) snippet(body []byte) string {
	s := strings.ToValidUTF8(string(body), "�")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }), " ")
	for _, secret := range h.secrets {
		s = strings.ReplaceAll(s, secret, redactedMarker)
	}
	if r := []rune(s); len(r) > maxErrorSnip {
		s = string(r[:maxErrorSnip]) + "…"
	}
	return s
}

// secretsOf lists what must never appear in an error: the address past its
// host (whole, and each long path segment or query value, in case only a
// token is echoed), the token, the password and the key.
func secretsOf(c Config, u *url.URL) []string {
	set := []string{c.Address, c.Token, c.Password, string(c.HMACKey), u.RawQuery}
	if u.Path != "" && u.Path != "/" {
		set = append(set, u.Path, u.EscapedPath())
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		if len(seg) >= 8 {
			set = append(set, seg)
		}
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= 8 {
				set = append(set, v)
			}
		}
	}
	set = slices.DeleteFunc(set, func(s string) bool { return len(s) < 4 })
	// Longest first, so that a path is replaced whole before its segments.
	slices.SortFunc(set, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(set)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; 0 when
// absent or unreadable, at most maxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	}
	return min(d, maxRetryAfter)
}

// bearerOrBasic returns an auth func that sends token as a bearer token, or
// basic auth when a user name or password is set; nil when neither.
func bearerOrBasic(c Config) func(*http.Request) {
	switch {
	case c.Token != "":
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+c.Token) }
	case c.Username != "" || c.Password != "":
		return func(r *http.Request) { r.SetBasicAuth(c.Username, c.Password) }
	}
	return nil
}
