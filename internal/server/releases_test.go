package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server"
)

func promoted(a *v1.Application, from string) *v1.Application {
	a.Spec.Promotion = &v1.Promotion{From: from, Copy: v1.PromotionCopy{KustomizeImages: true}}
	return a
}

func names(apps []*v1.Application) string {
	var s []string
	for _, a := range apps {
		s = append(s, a.Namespace+"/"+a.Name)
	}
	return strings.Join(s, " ")
}

func TestPromotionOrderRunsChainsFirst(t *testing.T) {
	a := func(ns, name, from string) *v1.Application {
		x := app(ns, name, "", v1.Synced, "Healthy")
		if from != "" {
			promoted(x, from)
		}
		return x
	}
	for _, tc := range []struct {
		name string
		apps []*v1.Application
		want string
	}{
		{"one chain, listed backwards", []*v1.Application{a("t", "prod", "stage"), a("t", "stage", "dev"), a("t", "dev", "")},
			"t/dev t/stage t/prod"},
		{"chains first, then the others, by name", []*v1.Application{a("t", "api", ""), a("t", "web-prod", "web-dev"), a("t", "zz", ""),
			a("s", "b-prod", "b-dev"), a("s", "b-dev", ""), a("t", "web-dev", "")},
			"s/b-dev s/b-prod t/web-dev t/web-prod t/api t/zz"},
		{"a chain branches: both after their source", []*v1.Application{a("t", "prod-us", "stage"), a("t", "prod-eu", "stage"), a("t", "stage", "")},
			"t/stage t/prod-eu t/prod-us"},
		{"a source not among them starts a chain", []*v1.Application{a("t", "solo", ""), a("t", "prod", "stage")}, "t/prod t/solo"},
		{"from names one of the same namespace", []*v1.Application{a("u", "prod", "stage"), a("t", "stage", "")}, "u/prod t/stage"},
		{"a cycle after the chains, before the others", []*v1.Application{a("t", "x", "y"), a("t", "y", "x"), a("t", "a", ""),
			a("t", "d2", "d1"), a("t", "d1", "")}, "t/d1 t/d2 t/x t/y t/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(server.PromotionOrder(tc.apps)); got != tc.want {
				t.Errorf("order %s, want %s", got, tc.want)
			}
		})
	}
}

// releasesLedger is a ledger service over records of team/web and
// team/web-prod, and of the secret project's sec/vault.
func releasesLedger(t *testing.T) server.API {
	t.Helper()
	ctx := context.Background()
	store, l := newLedger(t)
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	add := func(app, rev string, result audit.Result, minute int) {
		t.Helper()
		r := audit.Record{Event: audit.EventSync, Application: app, Actor: audit.ActorController, Result: result, Trigger: "Git",
			Time: t0.Add(time.Duration(minute) * time.Minute), Revision: strings.Repeat(rev, 40),
			Commit: &audit.Commit{Subject: "at " + rev}, Images: []string{"registry.internal/web@sha256:" + strings.Repeat(rev, 64)}}
		if _, err := l.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	add("team/web", "1", audit.Succeeded, 1)
	add("team/web-prod", "1", audit.Succeeded, 2)
	add("team/web", "2", audit.Succeeded, 3)
	// Many re-syncs of web at 2, more than a page of records holds.
	for i := range 150 {
		add("team/web", "2", audit.Succeeded, 4+i)
	}
	add("team/web", "3", audit.Failed, 200)
	add("sec/vault", "9", audit.Succeeded, 201)
	return &server.Service{Store: store}
}

func TestReleasesInPromotionOrder(t *testing.T) {
	objs := []client.Object{
		promoted(app("team", "web-prod", "team-a", v1.Synced, "Healthy"), "web"), app("team", "web", "team-a", v1.Synced, "Healthy"),
		app("team", "api", "team-a", v1.Synced, "Healthy"), app("sec", "vault", "secret", v1.Synced, "Healthy"),
	}
	f := newAPIWith(t, func(d *server.Deps) { d.Ledger = releasesLedger(t) }, objs...)
	viewer, dev, nobody := f.as(t, "viewer"), f.as(t, "dev"), f.as(t, "nobody")
	get := func(cred, query string, wantCode int) server.ReleaseList {
		t.Helper()
		code, body := f.do(t, http.MethodGet, server.PathReleases+"?"+query, cred, nil)
		if code != wantCode {
			t.Fatalf("?%s: %d %s, want %d", query, code, body, wantCode)
		}
		var out server.ReleaseList
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	summary := func(l server.ReleaseList) string {
		var s []string
		for _, it := range l.Items {
			cur := "-"
			if it.Current != nil {
				cur = fmt.Sprintf("%.1s#%d/%d", it.Current.Revision, it.Current.Seq, it.Current.Syncs)
			}
			for _, p := range it.Previous {
				cur += fmt.Sprintf(",%.1s#%d", p.Revision, p.Seq)
			}
			s = append(s, it.Namespace+"/"+it.Name+"<"+it.From+">="+cur)
		}
		return strings.Join(s, " ")
	}

	// The chain web → web-prod first; web got to 2 at #3 and re-synced it
	// 150 times since; its failed sync at 3 is no release.
	if got, want := summary(get(viewer, "history=2", http.StatusOK)), "team/web<>=2#3/151,1#1 team/web-prod<web>=1#2/1 sec/vault<>=9#155/1 team/api<>=-"; got != want {
		t.Errorf("as viewer:\n got %s\nwant %s", got, want)
	}
	l := get(viewer, "application=team/web", http.StatusOK)
	if got := summary(l); got != "team/web<>=2#3/151" {
		t.Errorf("one application: %s", got)
	}
	if c := l.Items[0].Current; c.Images[0] != "registry.internal/web@sha256:"+strings.Repeat("2", 64) || c.Commit.Subject != "at 2" ||
		!c.Since.Equal(time.Date(2026, 11, 30, 9, 3, 0, 0, time.UTC)) {
		t.Errorf("current release %+v", c)
	}
	// dev may not read the secret project's ledger: vault is not there for them.
	if got := summary(get(dev, "project=secret", http.StatusOK)); got != "" {
		t.Errorf("dev sees %s", got)
	}
	get(dev, "application=sec/vault", http.StatusNotFound)
	if got := summary(get(dev, "namespace=team&application=team/web-prod&application=team/web", http.StatusOK)); got != "team/web<>=2#3/151 team/web-prod<web>=1#2/1" {
		t.Errorf("dev, two applications: %s", got)
	}
	get(nobody, "", http.StatusForbidden)
	for _, bad := range []string{"history=-1", "history=101", "history=x", "application=web", "application=a/b/c", "project=a&project=b", "app=team/web"} {
		get(viewer, bad, http.StatusBadRequest)
	}
}

// The client asks what the server answers.
func TestReleasesThroughTheClient(t *testing.T) {
	f := newAPIWith(t, func(d *server.Deps) { d.Ledger = releasesLedger(t) },
		promoted(app("team", "web-prod", "team-a", v1.Synced, "Healthy"), "web"), app("team", "web", "team-a", v1.Synced, "Healthy"))
	c, err := server.NewClient(f.srv.URL, f.as(t, "viewer"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Releases(context.Background(), server.ReleaseQuery{Applications: []string{"team/web-prod", "team/web"}, Project: "team-a", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 2 || l.Items[0].Name != "web" || len(l.Items[0].Previous) != 1 || l.Items[1].From != "web" {
		t.Errorf("releases %+v", l)
	}
}
