package server

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// An origin is a scheme and a host, as a browser names the page a request
// comes from (its Origin header). Two spellings of one origin compare equal
// once normalized: scheme and host in lower case, the scheme's default port
// left out (https://Lockstep.example:443 is https://lockstep.example).

// OriginOf is the normalized origin of an http or https URL: the Origin a
// browser sends from a page under it.
func OriginOf(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	o, ok := normalOrigin(u.Scheme, u.Host)
	if !ok || u.User != nil {
		return "", fmt.Errorf("%q: want http:// or https:// and a host", rawURL)
	}
	return o, nil
}

// normalOrigin is the origin of scheme and host (host[:port]), normalized;
// false unless the scheme is http or https and there is a host.
func normalOrigin(scheme, host string) (string, bool) {
	var defaultPort string
	switch scheme = strings.ToLower(scheme); scheme {
	case "https":
		defaultPort = "443"
	case "http":
		defaultPort = "80"
	default:
		return "", false
	}
	hp := url.URL{Host: host}
	name, port := strings.ToLower(hp.Hostname()), hp.Port()
	switch {
	case name == "":
		return "", false
	case port != "" && port != defaultPort:
		return scheme + "://" + net.JoinHostPort(name, port), true
	case strings.Contains(name, ":"): // IPv6
		return scheme + "://[" + name + "]", true
	}
	return scheme + "://" + name, true
}

// isThisServer reports whether a browser's Origin is this server's: the
// scheme it serves (https over TLS) and the host asked for, or its public
// origin (Deps.PublicOrigin: the controller's --api-public-url, else its
// --oidc-redirect-url), which a proxy in front that ends TLS hides from it.
// A page served over plain HTTP under the same name is another origin: a
// network attacker could have written it.
func (s *Server) isThisServer(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Path != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	got, ok := normalOrigin(u.Scheme, u.Host)
	if !ok {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if own, ok := normalOrigin(scheme, r.Host); ok && got == own {
		return true
	}
	public, err := OriginOf(s.d.PublicOrigin)
	return err == nil && got == public
}
