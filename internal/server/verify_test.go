package server_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/auth/authtest"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// countingLedger counts the walks of the chain; each waits for gate.
type countingLedger struct {
	*server.Service
	walks atomic.Int32
	gate  chan struct{}
}

func (c *countingLedger) Verify(ctx context.Context, trusted ed25519.PublicKey) (audit.Report, error) {
	c.walks.Add(1)
	<-c.gate
	return c.Service.Verify(ctx, trusted)
}

// Every Audit page view asks for a verification; the chain is walked once for
// all who ask at the same time, and again only when the ledger has moved (or
// the report is old).
func TestVerificationsAreSharedUntilTheLedgerMoves(t *testing.T) {
	f := newFixture(t, 3)
	ledger := &countingLedger{Service: &server.Service{Store: f.store}, gate: make(chan struct{})}
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, err := server.New(server.Deps{Ledger: ledger, Auth: authtest.New(t, auth.Options{LedgerToken: token}, nil),
		Policy: &rbac.Store{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	verify := func(query string) server.Verification {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+server.PathVerify+query, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return server.Verification{}
		}
		defer resp.Body.Close()
		var v server.Verification
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("verify%s: %d, %v", query, resp.StatusCode, err)
		}
		return v
	}

	// Many at once: one walk, one report for all.
	const callers = 20
	got := make([]server.Verification, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { got[i] = verify("") })
	}
	for ledger.walks.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the others wait for the walk
	close(ledger.gate)
	wg.Wait()
	if n := ledger.walks.Load(); n != 1 {
		t.Errorf("%d callers at once walked the chain %d times; want once", callers, n)
	}
	for i, v := range got {
		if !v.OK() || v.Records != 3 || !v.VerifiedAt.Equal(now) {
			t.Errorf("caller %d: %+v", i, v)
		}
	}

	for _, tc := range []struct {
		name      string
		change    func()
		query     string
		wantWalks int32
		want      func(server.Verification) bool
	}{
		{"unchanged", func() {}, "", 1, func(v server.Verification) bool { return v.Records == 3 }},
		{"a record appended", func() {
			if _, err := f.ledger.Append(t.Context(), audit.Record{Event: audit.EventSync, Application: "team/web", Actor: audit.ActorController, Result: audit.Succeeded}); err != nil {
				t.Fatal(err)
			}
		}, "", 2, func(v server.Verification) bool { return v.Records == 4 && v.Last == 4 }},
		{"unchanged since", func() {}, "", 2, func(v server.Verification) bool { return v.Records == 4 }},
		{"another trusted key", func() {}, "?publicKey=" + url.QueryEscape(publicKeyPEM(t, f.ledger.PublicKey())), 3,
			func(v server.Verification) bool { return v.OK() && v.KeyTrusted }},
		{"no key again", func() {}, "", 3, func(v server.Verification) bool { return !v.KeyTrusted }},
		{"an old report", func() { mu.Lock(); now = now.Add(6 * time.Minute); mu.Unlock() }, "", 4,
			func(v server.Verification) bool { return v.VerifiedAt.Equal(clock()) }},
	} {
		tc.change()
		v := verify(tc.query)
		if n := ledger.walks.Load(); n != tc.wantWalks || !tc.want(v) {
			t.Errorf("%s: %d walks in all (want %d), %+v", tc.name, n, tc.wantWalks, v)
		}
	}
}

func publicKeyPEM(t *testing.T, k ed25519.PublicKey) string {
	t.Helper()
	pem, err := audit.MarshalPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem)
}
