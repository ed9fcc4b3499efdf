package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Timeouts of the API server. A request reads nothing but its header; an
// answer is written, and its work done, within writeTimeout (export and
// verify, which walk the whole ledger, within exportTimeout). No ReadTimeout:
// for a request without a body it would cancel the request's context while
// the answer is being worked out.
var (
	readHeaderTimeout = 10 * time.Second
	writeTimeout      = time.Minute
	idleTimeout       = time.Minute
	exportTimeout     = 30 * time.Minute
	readBodyTimeout   = 10 * time.Second
)

// maxConnections bounds the connections served at once; more wait in the
// listen queue.
const maxConnections = 4096

// ErrPlainHTTP is returned by CheckPlainHTTP.
var ErrPlainHTTP = errors.New("the API would send its bearer token in clear text")

// CheckPlainHTTP refuses to serve the API without TLS on an address other
// than loopback (":8443" listens on every interface), unless insecure says
// the risk was accepted: the token would cross the network in clear text.
func CheckPlainHTTP(addr string, tls, insecure bool) error {
	if tls || insecure {
		return nil
	}
	loopback, err := onLoopback(addr)
	if err != nil || loopback {
		return err
	}
	return fmt.Errorf("%w on %s: give --api-tls-cert and --api-tls-key, listen on 127.0.0.1, or pass --api-insecure-http to accept it", ErrPlainHTTP, addr)
}

// LacksPublicURL reports whether the API serves plain HTTP beyond loopback
// (--api-insecure-http) without knowing its public origin. That is most
// often behind a proxy that ends TLS: the browser's pages are then
// https://NAME while the server sees http://NAME, and it refuses their
// logins and actions (403) as coming from another origin. The caller warns:
// refusing to start would stop setups that serve plain HTTP to browsers
// directly, or to the CLI only, which work.
func LacksPublicURL(addr string, tls bool, publicOrigin string) bool {
	if tls || publicOrigin != "" {
		return false
	}
	loopback, err := onLoopback(addr)
	return err == nil && !loopback
}

// onLoopback reports whether addr listens on a loopback address only
// (":8443" listens on every interface).
func onLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("API address %s: %w", addr, err)
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback()), nil
}

// Serve serves h on addr until ctx ends, with TLS when certFile is set.
func Serve(ctx context.Context, addr string, h http.Handler, certFile, keyFile string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("API address %s: %w", addr, err)
	}
	ln = netutil.LimitListener(ln, maxConnections)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: 16 << 10}
	done := make(chan error, 1)
	go func() {
		if certFile != "" {
			done <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}
