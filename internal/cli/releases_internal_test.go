package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server"
)

func TestShortImage(t *testing.T) {
	const hex = "4c1e2f3a5b6c7d8e9f00112233445566778899aabbccddeeff00112233445566"
	for in, want := range map[string]string{
		"registry.internal/web@sha256:" + hex:       "registry.internal/web@sha256:4c1e2f3a5b6c",
		"registry.internal/web:1.2@sha256:" + hex:   "registry.internal/web:1.2@sha256:4c1e2f3a5b6c",
		"registry.internal:5000/team/web:1.2":       "registry.internal:5000/team/web:1.2",
		"registry.internal/web@sha256:4c1e":         "registry.internal/web@sha256:4c1e",
		"registry.internal/web@not-a-digest-at-all": "registry.internal/web@not-a-digest-at-all",
	} {
		if got := shortImage(in); got != want {
			t.Errorf("shortImage(%q) = %q, want %q", in, got, want)
		}
	}
	if got := shortImages([]string{"a:1", "b:1", "c:1", "d:1", "e:1"}); got != "a:1, b:1, c:1, +2 more" {
		t.Errorf("shortImages = %q", got)
	}
}

func TestReleasesTableIndentsEarlierReleases(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	rel := func(rev, subject string, ago time.Duration, images ...string) audit.Release {
		return audit.Release{Revision: strings.Repeat(rev, 40), Since: now.Add(-ago), Images: images, Commit: &audit.Commit{Subject: subject}}
	}
	back := rel("a", "web 1.0", 50*time.Hour, "registry.internal/web@sha256:"+strings.Repeat("a", 64))
	back.Rollback = true
	items := []server.AppReleases{
		{Namespace: "shop", Name: "web-stage", Current: &audit.Release{Revision: strings.Repeat("c", 40), Since: now.Add(-5 * time.Minute),
			Images: []string{"registry.internal/web@sha256:" + strings.Repeat("c", 64)}, Commit: &audit.Commit{Subject: "web 2.0"}},
			Previous: []audit.Release{rel("b", "web 1.1", 3*time.Hour), back}},
		{Namespace: "shop", Name: "web-prod", From: "web-stage", Current: &back},
		{Namespace: "shop", Name: "api"},
	}
	var out bytes.Buffer
	if err := printReleases(&out, items, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"ENVIRONMENT FROM REVISION SINCE IMAGES SUBJECT",
		"shop/web-stage - cccccccccccc 5m (" + when(now.Add(-5*time.Minute)) + ") registry.internal/web@sha256:cccccccccccc web 2.0",
		"├─ bbbbbbbbbbbb 3h (" + when(now.Add(-3*time.Hour)) + ") - web 1.1",
		"└─ aaaaaaaaaaaa 2d (" + when(now.Add(-50*time.Hour)) + ") registry.internal/web@sha256:aaaaaaaaaaaa web 1.0 (rollback)",
		"shop/web-prod web-stage aaaaaaaaaaaa 2d (" + when(now.Add(-50*time.Hour)) + ") registry.internal/web@sha256:aaaaaaaaaaaa web 1.0 (rollback)",
		"shop/api - - - - no successful sync in the ledger",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, l := range lines {
		if got := strings.Join(strings.Fields(l), " "); got != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i, got, want[i])
		}
	}
	if !strings.HasPrefix(lines[2], "  ├─") {
		t.Errorf("an earlier release is not indented: %q", lines[2])
	}
}
