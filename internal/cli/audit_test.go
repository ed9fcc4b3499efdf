package cli_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
)

// offlineLedger writes n records to a database file, as the controller would,
// and returns its path and public key file.
func offlineLedger(t *testing.T, n int) (db, pubFile string) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "ledger.db")
	store, err := sqlite.Open(context.Background(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := audit.GenerateKey()
	l := audit.New(store, key)
	for i := 1; i <= n; i++ {
		rec := audit.Record{Event: audit.EventSync, Application: "team/web", Actor: audit.ActorController, Result: audit.Succeeded,
			Revision: fmt.Sprintf("%040d", i), Commit: &audit.Commit{Author: "Ada <ada@example.com>", Subject: fmt.Sprintf("Change %d", i)}}
		if _, err := l.Append(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	_, pub, _ := audit.MarshalKey(key)
	pubFile = filepath.Join(t.TempDir(), "ledger.pub")
	if err := os.WriteFile(pubFile, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return db, pubFile
}

func TestAuditVerifyNamesTheFirstBadRecordOffline(t *testing.T) {
	db, pub := offlineLedger(t, 6)
	out, err := run(t, "audit", "verify", "--db", db, "--public-key", pub)
	if err != nil || !strings.HasPrefix(out, "OK: 6 records (#1 to #6)") || !strings.Contains(out, "checked against the trusted key") {
		t.Fatalf("intact ledger: %v\n%s", err, out)
	}
	raw, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE records SET body = replace(body, 'Change 3', 'Change 9') WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "audit", "verify", "--db", db, "--public-key", pub)
	if err == nil || !strings.Contains(out, "BROKEN at record #3") {
		t.Fatalf("edited record 3: %v\n%s", err, out)
	}
}

func TestAuditReadsADatabaseFileOffline(t *testing.T) {
	db, _ := offlineLedger(t, 12)
	out, err := run(t, "history", "team/web", "--db", db, "--limit", "5")
	if err != nil || strings.Count(out, "Ada") != 5 || !strings.Contains(out, "Change 12") {
		t.Fatalf("history: %v\n%s", err, out)
	}
	out, err = run(t, "audit", "--db", db, "--kind", "sync", "--author", "ada", "-o", "json")
	var recs []audit.Record
	if err != nil || json.Unmarshal([]byte(out), &recs) != nil || len(recs) != 12 || recs[0].Seq != 12 {
		t.Fatalf("audit -o json: %v\n%s", err, out)
	}
	exportFile := filepath.Join(t.TempDir(), "ledger.jsonl")
	if out, err := run(t, "audit", "export", "--db", db, "--after", "2", "-f", exportFile); err != nil || !strings.Contains(out, "exported 10 records") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	f, err := os.Open(exportFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
		if !strings.Contains(sc.Text(), `"hash":"`) {
			t.Fatalf("line without its hash: %s", sc.Text())
		}
	}
	if lines != 10 {
		t.Fatalf("%d lines exported", lines)
	}
}

func TestAuditCommandsSayWhatIsWrong(t *testing.T) {
	t.Setenv("LOCKSTEP_SERVER", "")
	t.Setenv("LOCKSTEP_TOKEN", "")
	t.Setenv("LOCKSTEP_CONFIG", filepath.Join(t.TempDir(), "no-config.yaml"))
	db, _ := offlineLedger(t, 1)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit"}, "no ledger to read: log in"},
		{[]string{"audit", "--server", "http://127.0.0.1:1"}, "not logged in"},
		{[]string{"audit", "--db", "/nonexistent/ledger.db"}, "ledger database"},
		{[]string{"audit", "--db", db, "--kind", "oops"}, "unknown event kind"},
		{[]string{"audit", "--db", db, "--since", "last tuesday"}, "--since"},
		{[]string{"audit", "--db", db, "--object", "Deployment"}, "--object"},
		{[]string{"audit", "--db", db, "-o", "xml"}, "want table, json or yaml"},
		{[]string{"history", "a/b/c", "--db", db}, "NAME or NAMESPACE/NAME"},
		{[]string{"blame", "deployment", "--db", db}, "want KIND/NAME"},
		{[]string{"audit", "verify", "--db", db, "--public-key", db}, "public key"},
	} {
		out, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error()+out, tc.want) {
			t.Errorf("lockstep %s: %v\n%s", strings.Join(tc.args, " "), err, out)
		}
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not sqlite ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "audit", "--db", junk); err == nil {
		t.Error("a junk file was read as a ledger")
	}
}

func TestOfflineBlameWithoutAClusterSaysSo(t *testing.T) {
	db, _ := offlineLedger(t, 1)
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	out, err := run(t, "blame", "deployment/web", "-n", "team", "--db", db, "--kubeconfig", filepath.Join(t.TempDir(), "missing"))
	if err == nil || !strings.Contains(err.Error(), "blame reads the live object from the cluster") || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Fatalf("blame offline without a cluster: %v\n%s", err, out)
	}
}
