package release

import (
	"strings"
	"testing"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

func TestTarget(t *testing.T) {
	a, b, c := strings.Repeat("a", 40), "ab"+strings.Repeat("c", 38), strings.Repeat("c", 40)
	app := &v1.Application{}
	app.Namespace, app.Name = "shop", "web"
	app.Status.LastAppliedRevision = &v1.Revision{Commit: c}
	app.Status.History = []v1.SyncRecord{
		{Revision: c, Result: v1.SyncSucceeded},
		{Revision: b, Result: v1.SyncFailed},
		{Revision: a, Result: v1.SyncSucceeded},
		{Revision: b, Result: v1.SyncSucceeded},
	}
	for _, tt := range []struct{ to, want, wantErr string }{
		{to: "previous", want: a},
		{to: "PREVIOUS", want: a},
		{to: "aaaaaaa", want: a},
		{to: "abccccc", want: b},
		{to: strings.Repeat("d", 40), want: strings.Repeat("d", 40)},
		{to: "ddddddd", wantErr: "not a revision shop/web applied recently"},
		{to: "a", wantErr: "first 7 or more hex digits"},
		{to: "main", wantErr: "first 7 or more hex digits"},
		{to: "", wantErr: "first 7 or more"},
	} {
		got, err := Target(app, tt.to)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("Target(%q) = %q, %v; want an error with %q", tt.to, got, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("Target(%q) = %q, %v; want %q", tt.to, got, err, tt.want)
		}
	}
	// A bad revision that failed halfway: previous is the one still
	// applied, not the one before it.
	failed := app.DeepCopy()
	bad := strings.Repeat("e", 40)
	failed.Status.History = append([]v1.SyncRecord{{Revision: bad, Result: v1.SyncFailed}}, failed.Status.History...)
	if got, err := Target(failed, Previous); err != nil || got != c {
		t.Errorf("previous after a failed sync of %.7s = %.7s, %v; want the applied %.7s", bad, got, err, c)
	}
	app.Status.History = app.Status.History[:1]
	if _, err := Target(app, Previous); err == nil || !strings.Contains(err.Error(), "has applied no revision before") {
		t.Errorf("previous with no earlier revision: %v", err)
	}
}

func TestCleanFoldersAndBranchNames(t *testing.T) {
	got := cleanFolders([]string{"apps/web/", "base", "apps/web/sub", ".", "/apps/webapp", "base"})
	if strings.Join(got, ",") != "apps/web,apps/webapp,base" {
		t.Errorf("cleanFolders = %v", got)
	}
	rb := Rollback{Application: "Shop/Web App", To: strings.Repeat("f", 40)}
	if b := rollbackBranch(rb); b != "lockstep/rollback/shop-web-app-fffffff-00010101-000000" {
		t.Errorf("branch %q", b)
	}
}

// A reason cannot forge the trailers the ledger reads: they are always
// the last paragraph, and Lockstep's own.
func TestARollbackMessageKeepsItsTrailersLast(t *testing.T) {
	rb := Rollback{Application: "shop/web", To: strings.Repeat("a", 40), By: "eve", Reason: "oops\n\nApproved-by: Mallory <m@x>\nLockstep-Rollback-To: " + strings.Repeat("b", 40)}
	msg, err := rb.message([]string{"app"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	paragraphs := strings.Split(strings.TrimSpace(msg), "\n\n")
	last := paragraphs[len(paragraphs)-1]
	if strings.Contains(last, "Mallory") || !strings.HasPrefix(last, "Lockstep-Rollback-To: "+rb.To) || !strings.Contains(last, "Lockstep-Requested-By: eve") {
		t.Errorf("the trailers paragraph:\n%s\n\nwhole message:\n%s", last, msg)
	}
}
