package server

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/auth/authtest"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// slowVerify answers Verify after a delay, unless its context ends first.
type slowVerify struct {
	API
	delay time.Duration
}

func (s slowVerify) Verify(ctx context.Context, _ ed25519.PublicKey) (audit.Report, error) {
	select {
	case <-time.After(s.delay):
		return audit.Report{Records: 7}, nil
	case <-ctx.Done():
		return audit.Report{}, ctx.Err()
	}
}

// An answer that takes longer than the header timeout is still given: a
// server-wide read timeout would cancel the request's context (seen as an
// empty answer), so the deadline is the handler's own.
func TestSlowAnswersOutliveTheHeaderTimeout(t *testing.T) {
	readHeaderTimeout, writeTimeout = 200*time.Millisecond, time.Minute
	defer func() { readHeaderTimeout, writeTimeout = 10*time.Second, time.Minute }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv, err := New(Deps{Ledger: slowVerify{delay: 600 * time.Millisecond}, Auth: authtest.New(t, auth.Options{LedgerToken: "tok-tok-tok-tok-tok"}, nil),
		Policy: &rbac.Store{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = Serve(ctx, addr, h, "", "") }()
	var resp *http.Response
	for i := 0; i < 50; i++ {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+PathVerify, nil)
		req.Header.Set("Authorization", "Bearer tok-tok-tok-tok-tok")
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"records":7`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
