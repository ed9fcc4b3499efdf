package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/auth/authtest"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

const token = "0123456789abcdef0123456789abcdef"

type fixture struct {
	store  *sqlite.Store
	ledger *audit.Ledger
	srv    *httptest.Server
	client *server.Client
}

// noLive answers blame's reads with a fixed object, or not found.
type noLive struct{ obj *unstructured.Unstructured }

func (n noLive) Get(_ context.Context, kind, namespace, name string) (*unstructured.Unstructured, error) {
	if n.obj == nil || n.obj.GetName() != name {
		return nil, &server.NotFoundError{}
	}
	return n.obj, nil
}

// newLedger is an empty ledger in a database of the test's own.
func newLedger(t *testing.T) (*sqlite.Store, *audit.Ledger) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	key, _ := audit.GenerateKey()
	return store, audit.New(store, key)
}

func newFixture(t *testing.T, records int) *fixture {
	t.Helper()
	ctx := context.Background()
	store, l := newLedger(t)
	for i := 1; i <= records; i++ {
		rec := audit.Record{Event: audit.EventSync, Application: "team/web", Actor: audit.ActorController, Result: audit.Succeeded,
			Revision: fmt.Sprintf("%040d", i), Commit: &audit.Commit{Author: fmt.Sprintf("Dev %d <d@example.com>", i%2), Subject: "Change"}}
		if i%5 == 0 {
			rec.Event, rec.Result = audit.EventDrift, audit.Detected
		}
		if _, err := l.Append(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	svc := &server.Service{Store: store, Live: noLive{}, FieldManager: "lockstep"}
	srv := httptest.NewServer(newHandler(t, svc, l.PublicKey(), io.Discard))
	t.Cleanup(srv.Close)
	c, err := server.NewClient(srv.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: store, ledger: l, srv: srv, client: c}
}

// newHandler serves the API over ledger with the shared ledger token and
// nothing else: no Applications, no accounts.
func newHandler(t *testing.T, ledger server.API, key ed25519.PublicKey, logs io.Writer) http.Handler {
	t.Helper()
	srv, err := server.New(server.Deps{Ledger: ledger, PublicKey: key, Auth: authtest.New(t, auth.Options{LedgerToken: token}, nil),
		Policy: &rbac.Store{}, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return srv.Handler()
}

func (f *fixture) get(t *testing.T, path, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestEveryPathButHealthNeedsTheToken(t *testing.T) {
	f := newFixture(t, 3)
	if code, _ := f.get(t, server.PathHealth, ""); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	for _, path := range []string{server.PathRecords, server.PathVerify, server.PathExport, server.PathBlame, server.PathPublicKey} {
		for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Basic " + token, "bearer " + token, "Bearer " + token + "x", "Bearer " + token[:10]} {
			code, body := f.get(t, path, auth)
			if code != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
				t.Errorf("%s with %q: %d %s", path, auth, code, body)
			}
		}
	}
	if code, body := f.get(t, server.PathRecords, "Bearer "+token); code != http.StatusOK || !strings.Contains(body, `"records"`) {
		t.Fatalf("with the token: %d %s", code, body)
	}
	// The API only reads.
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+server.PathRecords, strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
}

func TestBadQueriesAreRefusedClearly(t *testing.T) {
	f := newFixture(t, 3)
	for _, tc := range []struct{ query, want string }{
		{"limit=0", "between 1 and"},
		{"limit=10001", "between 1 and"},
		{"limit=ten", "limit"},
		{"kind=nonsense", "unknown event kind"},
		{"since=yesterday", "not a time"},
		{"since=-5h", "not a time"},
		{"before=-1", "before"},
		{"app=noslash", "namespace/name"},
		{"object=Deployment", "Kind[.group]"},
		{"order=sideways", "newest or oldest"},
		{"colour=blue", "unknown parameter"},
		{"app=a/b&app=c/d", "given 2 times"},
		{"author=" + strings.Repeat("x", 600), "longer than"},
		{"author=" + strings.Repeat("x", 5000), "longer than 4096 bytes"},
	} {
		code, body := f.get(t, server.PathRecords+"?"+tc.query, "Bearer "+token)
		if code/100 != 4 || !strings.Contains(body, tc.want) {
			t.Errorf("?%.40s: %d %s", tc.query, code, body)
		}
	}
	if code, body := f.get(t, server.PathVerify+"?publicKey=garbage", "Bearer "+token); code != http.StatusBadRequest || !strings.Contains(body, "publicKey") {
		t.Errorf("verify with a bad key: %d %s", code, body)
	}
	if code, _ := f.get(t, server.PathExport+"?after=x", "Bearer "+token); code != http.StatusBadRequest {
		t.Errorf("export after=x: %d", code)
	}
	if code, body := f.get(t, server.PathBlame+"?kind=deployment", "Bearer "+token); code != http.StatusBadRequest || !strings.Contains(body, "required") {
		t.Errorf("blame without a name: %d %s", code, body)
	}
	if code, _ := f.get(t, server.PathBlame+"?kind=deployment&name=missing&namespace=x", "Bearer "+token); code != http.StatusNotFound {
		t.Errorf("blame of a missing object: %d", code)
	}
	// Hostile text is data, not SQL or a pattern.
	for _, author := range []string{"' OR 1=1 --", "%", "_", `\`} {
		recs, err := f.client.Records(context.Background(), audit.Filter{Author: author})
		if err != nil || len(recs) != 0 {
			t.Errorf("author %q: %d records, %v", author, len(recs), err)
		}
	}
	// A NUL would end SQLite's pattern early and match everything.
	for _, author := range []string{"\x00", "Dev\x001", "a\x1b[31m"} {
		if recs, err := f.client.Records(context.Background(), audit.Filter{Author: author}); err == nil || !strings.Contains(err.Error(), "control characters") {
			t.Errorf("author %q: %d records, %v", author, len(recs), err)
		}
		if _, err := f.store.Query(context.Background(), audit.Filter{Author: author}); strings.ContainsRune(author, 0) && err == nil {
			t.Errorf("the store took a NUL in %q", author)
		}
	}
}

func TestFiltersRoundTripThroughTheQuery(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	f := audit.Filter{Application: "team/web", Events: []audit.Event{audit.EventSync, audit.EventDrift}, Since: now.Add(-time.Hour), Until: now,
		Author: "ada", Object: &audit.ObjectRef{Group: "apps", Kind: "Deployment", Namespace: "prod", Name: "api"}, Before: 9, Limit: 7, OldestFirst: true}
	got, err := server.FilterFromQuery(server.FilterQuery(f), now)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(f)
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) {
		t.Fatalf("round trip:\n%s\n%s", a, b)
	}
	for in, want := range map[string]time.Time{"7d": now.Add(-7 * 24 * time.Hour), "90m": now.Add(-90 * time.Minute), "2026-11-20": time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)} {
		if got, err := server.ParseTime(in, now); err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"Deployment.apps/prod/api", "Namespace/prod", "ConfigMap/prod/settings"} {
		ref, err := server.ParseObjectRef(in)
		if err != nil || server.FormatObjectRef(*ref) != in {
			t.Errorf("ParseObjectRef(%q) = %+v, %v", in, ref, err)
		}
	}
}

func TestRecordsPageNewestFirst(t *testing.T) {
	f := newFixture(t, 25)
	ctx := context.Background()
	var seen []uint64
	for before := uint64(0); ; {
		recs, err := f.client.Records(ctx, audit.Filter{Limit: 10, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			seen = append(seen, r.Seq)
		}
		if len(recs) < 10 {
			break
		}
		before = recs[len(recs)-1].Seq
	}
	if len(seen) != 25 || seen[0] != 25 || seen[24] != 1 {
		t.Fatalf("pages: %v", seen)
	}
	drifts, err := f.client.Records(ctx, audit.Filter{Events: []audit.Event{audit.EventDrift}})
	if err != nil || len(drifts) != 5 {
		t.Fatalf("drifts: %d, %v", len(drifts), err)
	}
}

func TestExportLinesCarryTheirOwnHash(t *testing.T) {
	f := newFixture(t, 12)
	var buf bytes.Buffer
	n, err := f.client.Export(context.Background(), 2, &buf)
	if err != nil || n != 10 {
		t.Fatalf("exported %d, %v", n, err)
	}
	sc := bufio.NewScanner(&buf)
	prev := ""
	for i := 0; sc.Scan(); i++ {
		line := sc.Text()
		var rec struct {
			Seq      uint64 `json:"seq"`
			PrevHash string `json:"prevHash"`
			Hash     string `json:"hash"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		body := strings.TrimSuffix(line, `,"hash":"`+rec.Hash+`"}`) + "}"
		sum := sha256.Sum256([]byte(body))
		if rec.Seq != uint64(i+3) || hex.EncodeToString(sum[:]) != rec.Hash || (prev != "" && rec.PrevHash != prev) {
			t.Fatalf("line %d: seq %d, hash %s, body hash %x, prev %s/%s", i, rec.Seq, rec.Hash, sum, rec.PrevHash, prev)
		}
		prev = rec.Hash
	}
}

func TestVerifyAndPublicKeyOverTheAPI(t *testing.T) {
	f := newFixture(t, 4)
	ctx := context.Background()
	rep, err := f.client.Verify(ctx, f.ledger.PublicKey())
	if err != nil || !rep.OK() || !rep.KeyTrusted || rep.Records != 4 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	pk, err := f.client.PublicKey(ctx)
	if err != nil || pk.Fingerprint != audit.Fingerprint(f.ledger.PublicKey()) || !strings.Contains(pk.PEM, "PUBLIC KEY") {
		t.Fatalf("public key: %+v, %v", pk, err)
	}
	other, _ := audit.GenerateKey()
	rep, err = f.client.Verify(ctx, other.Public().(ed25519.PublicKey))
	if err != nil || rep.OK() {
		t.Fatalf("a foreign key verified: %+v, %v", rep, err)
	}
}

func TestClientRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct{ server, token, want string }{
		{"", token, "want https://"},
		{"ftp://x", token, "want https://"},
		{"http://", token, "want https://"},
		{"http://127.0.0.1:1", "", "LOCKSTEP_TOKEN"},
	} {
		if _, err := server.NewClient(tc.server, tc.token); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewClient(%q, %q) = %v", tc.server, tc.token, err)
		}
	}
	c, _ := server.NewClient("http://127.0.0.1:1", token)
	if _, err := c.Records(context.Background(), audit.Filter{}); err == nil || !strings.Contains(err.Error(), "reaching the Lockstep API") {
		t.Errorf("unreachable: %v", err)
	}
	// A server that is not Lockstep.
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	c, _ = server.NewClient(other.URL, token)
	if _, err := c.Records(context.Background(), audit.Filter{}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("not lockstep: %v", err)
	}
	// A truncated export is reported, not taken for a whole one.
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("{\"seq\":1}\n{\"seq\":")) }))
	defer cut.Close()
	c, _ = server.NewClient(cut.URL, token)
	if n, err := c.Export(context.Background(), 0, io.Discard); err == nil || n != 1 {
		t.Errorf("cut export: %d, %v", n, err)
	}
}

func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr             string
		tls, insecure    bool
		wantPlainRefused bool
	}{
		{"127.0.0.1:8443", false, false, false},
		{"[::1]:8443", false, false, false},
		{"localhost:8443", false, false, false},
		{":8443", false, false, true},
		{"0.0.0.0:8443", false, false, true},
		{"10.0.0.5:8443", false, false, true},
		{":8443", true, false, false},
		{":8443", false, true, false},
	} {
		err := server.CheckPlainHTTP(tc.addr, tc.tls, tc.insecure)
		if errors.Is(err, server.ErrPlainHTTP) != tc.wantPlainRefused {
			t.Errorf("%s tls=%v insecure=%v: %v", tc.addr, tc.tls, tc.insecure, err)
		}
	}
}

// Plain HTTP beyond loopback is most often a proxy in front that ends TLS:
// without a public URL, browsers' logins and actions would be refused, and
// the controller warns at start.
func TestPlainHTTPBeyondLoopbackWantsAPublicURL(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		tls    bool
		public string
		want   bool
	}{
		{":8443", false, "", true},
		{"0.0.0.0:8443", false, "", true},
		{"10.0.0.5:8443", false, "", true},
		{":8443", false, "https://lockstep.example", false},
		{":8443", true, "", false},
		{"127.0.0.1:8443", false, "", false},
		{"localhost:8443", false, "", false},
		{"[::1]:8443", false, "", false},
		{"no port", false, "", false}, // CheckPlainHTTP refuses it
	} {
		if got := server.LacksPublicURL(tc.addr, tc.tls, tc.public); got != tc.want {
			t.Errorf("%s tls=%v public=%q: %v; want %v", tc.addr, tc.tls, tc.public, got, tc.want)
		}
	}
}

// A failure inside the controller is logged with a request id; the caller gets
// the id, not the cause (which may name files, hosts or queries).
func TestInternalErrorsAreNotEchoed(t *testing.T) {
	var logs bytes.Buffer
	svc := failingAPI{err: errors.New("open /var/lib/lockstep/ledger.db: secret-internal-detail")}
	srv := httptest.NewServer(newHandler(t, svc, nil, &logs))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+server.PathVerify, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(body), "secret-internal-detail") || !strings.Contains(string(body), "request ") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "secret-internal-detail") {
		t.Errorf("the cause is not in the log: %s", logs.String())
	}
}

// failingAPI fails every call.
type failingAPI struct {
	server.API
	err error
}

func (f failingAPI) Verify(context.Context, ed25519.PublicKey) (audit.Report, error) {
	return audit.Report{}, f.err
}

func TestClientSendsTheTokenInClearTextOnlyToLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"http://127.0.0.1:8443": true, "http://localhost:8443": true, "https://lockstep.internal:8443": true,
		"http://lockstep.internal:8443": false, "http://10.0.0.5": false,
	} {
		_, err := server.NewClient(addr, "a-token")
		if (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

// Blame reads the live object with the controller's rights, so it answers only
// for objects an Application applied: not for any Secret or object of the
// cluster a token holder names.
func TestBlameAnswersOnlyForManagedObjects(t *testing.T) {
	f := newFixture(t, 1)
	for _, tc := range []struct {
		labels string
		want   int
	}{
		{"", http.StatusNotFound},
		{"labels: {lockstep.dev/managed: \"true\"}", http.StatusOK},
	} {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: team, "+tc.labels+"}\ndata: {password: aHVudGVyMg==}\n"), &obj.Object); err != nil {
			t.Fatal(err)
		}
		svc := &server.Service{Store: f.store, Live: noLive{obj: obj}, FieldManager: "lockstep"}
		srv := httptest.NewServer(newHandler(t, svc, f.ledger.PublicKey(), io.Discard))
		req, _ := http.NewRequest(http.MethodGet, srv.URL+server.PathBlame+"?kind=secret&namespace=team&name=db", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tc.want || strings.Contains(string(body), "aHVudGVyMg") {
			t.Errorf("labels %q: %d %s", tc.labels, resp.StatusCode, body)
		}
	}
}
