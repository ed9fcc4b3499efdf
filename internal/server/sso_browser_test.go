package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	chromium "github.com/lockstep-dev/lockstep/internal/testenv/browser" // browser is sso_test.go's HTTP client
	"github.com/lockstep-dev/lockstep/internal/testenv/oidc"
)

func TestMain(m *testing.M) { chromium.Main(m) }

// A user signs in with single sign-on in a real browser: the UI's link, the
// provider's own login page, back to the UI logged in with what their groups
// allow, and out again.
//
// The UI is opened as localhost and the provider as 127.0.0.1, two sites to
// the browser (a port does not make a site), as a perimeter's provider is
// another site than Lockstep: the way back from the provider is a cross-site
// navigation, which is what SameSite rules are about.
func TestSingleSignOnInTheBrowser(t *testing.T) {
	p := oidc.Start(t)
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	base := "http://localhost:" + port
	p.AddClient(oidc.Client{ID: ssoClient, Secret: ssoSecret, RedirectURIs: []string{base + server.PathAuthCallback}})
	p.AddUser(oidc.User{Name: "dan", Password: "pw", Groups: []string{"deployers", "unknown-to-lockstep"}})
	cfg := auth.OIDCConfig{Issuer: p.Issuer, ClientID: ssoClient, ClientSecret: ssoSecret,
		RedirectURL: base + server.PathAuthCallback, UsernameClaim: "preferred_username"}
	rp, err := auth.NewOIDC(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	newSSOAPI(t, srv, rp, server.PublicOIDC(cfg, ""))

	b := chromium.New(t, base, chromium.AllowOrigins(p.Issuer),
		// Asked before anyone logs in, and again after the logout.
		chromium.ExpectStatus(http.StatusUnauthorized, server.PathSession),
		// This server has no live updates (no Hub): the overview's stream is
		// refused, and the page stays as it was drawn.
		chromium.ExpectStatus(http.StatusServiceUnavailable, "/api/v1/stream/applications"))
	callbacks := watchCallbacks(t, b)
	b.Navigate("/#/?namespace=team") // the overview, filtered: the page to come back to
	sso := `form.login a[href^="/auth/login"]`
	b.WaitVisible(sso)
	b.CheckAccessible("the login page with single sign-on")
	b.Click(sso)

	// The provider's page, on its own origin.
	b.WaitVisible(`input[name="username"]`)
	if loc := b.Location(); !strings.HasPrefix(loc, p.Issuer+"/") {
		t.Fatalf("the link led to %s, not to the provider", loc)
	}
	b.Type(`input[name="username"]`, "dan")
	b.Type(`input[name="password"]`, "pw")
	b.Click(`button[value="login"]`)

	// Back in the UI, on the page asked for, logged in as dan by single
	// sign-on. The session cookie is SameSite=Strict: the browser holds it
	// back from the redirect's own request for the page (it comes from the
	// provider's site), but the page needs none, and the UI's calls after it
	// are same-site and carry it.
	b.WaitVisible("table.apps")
	if loc := b.Location(); loc != base+"/#/?namespace=team" {
		t.Errorf("after the sign-in, the browser is at %s, not back on the filtered overview", loc)
	}
	if rows := b.Texts("table.apps tbody th"); strings.Join(rows, ",") != "team/web" {
		t.Errorf("the overview shows %q, want the filter's one row", rows)
	}
	if got := callbacks(); len(got) != 1 || got[0] != "cross-site" {
		t.Errorf("Sec-Fetch-Site of the requests for %s: %q, want one, cross-site", server.PathAuthCallback, got)
	}
	if who := b.Text("#who span"); who != "dan" || b.Attribute("#who span", "title") != "logged in with sso" {
		t.Errorf("the header shows %q (%s), want dan logged in with sso", who, b.Attribute("#who span", "title"))
	}
	// The groups the policy names, and what they allow: deployers refresh
	// team-a's Applications only.
	type detail struct {
		Can map[string]bool `json:"can"`
	}
	call := func(path string) string {
		return `fetch("/api/v1` + path + `", {credentials: "same-origin"}).then(r => r.json())`
	}
	if who := chromium.Evaluate[server.Whoami](b, call("/session")); strings.Join(who.Groups, ",") != "deployers" || who.Method != "sso" {
		t.Errorf("the session: %+v, want sso with the group deployers", who)
	}
	if d := chromium.Evaluate[detail](b, call("/applications/team/web")); !d.Can["refresh"] {
		t.Errorf("dan may not refresh team/web (team-a): %v", d.Can)
	}
	if d := chromium.Evaluate[detail](b, call("/applications/other/x")); d.Can["refresh"] {
		t.Errorf("dan may refresh other/x: %v", d.Can)
	}

	// Out: the session ends on the server, not only in the page.
	b.Click("#who button")
	b.WaitVisible("#username")
	if status := chromium.Evaluate[int](b, `fetch("/api/v1/session").then(r => r.status)`); status != http.StatusUnauthorized {
		t.Errorf("after logging out, GET %s answers %d", server.PathSession, status)
	}
}

// watchCallbacks records the Sec-Fetch-Site header of each request the page
// makes for /auth/callback: "cross-site" shows the test takes the way back
// from the provider that SameSite rules apply to.
func watchCallbacks(t *testing.T, b *chromium.Browser) func() []string {
	// A redirect's hops share one request ID, and Chromium sends a hop's
	// headers (the extra info) before or after its URL: the n-th headers of
	// an ID belong to its n-th URL.
	var mu sync.Mutex
	urls := map[network.RequestID][]string{}
	sites := map[network.RequestID][]string{}
	err := chromedp.Listen(b.Context(), func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			urls[ev.RequestID] = append(urls[ev.RequestID], ev.Request.URL)
		case *network.EventRequestWillBeSentExtraInfo:
			site, _ := ev.Headers["Sec-Fetch-Site"].(string)
			sites[ev.RequestID] = append(sites[ev.RequestID], site)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		var got []string
		for id, us := range urls {
			for i, u := range us {
				if p, err := url.Parse(u); err == nil && p.Path == server.PathAuthCallback && i < len(sites[id]) {
					got = append(got, sites[id][i])
				}
			}
		}
		return got
	}
}
