package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/faultproxy"
	"github.com/lockstep-dev/lockstep/internal/testenv/postgres"
)

// Two replicas keep one ledger in PostgreSQL (--ledger-dsn), as replicas on
// different nodes do. The leader is killed mid-sync: the other takes over
// and writes on in the same chain. Then the database goes away (its
// connections cut, its port closed): no sync applies while it is gone, the
// Application says why, and when it is back the waiting commit is applied
// and recorded once. The chain verifies from PostgreSQL.
func TestReplicasShareALedgerInPostgreSQL(t *testing.T) {
	const n = 10
	f := newRepo(t)
	pg, err := postgres.Start(context.Background(), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	db, err := pg.CreateDatabase(testenv.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := faultproxy.Start(net.JoinHostPort("127.0.0.1", fmt.Sprint(pg.Port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	dsn, err := url.Parse(pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	direct := dsn.String()
	dsn.Host = proxy.Addr
	t.Setenv("LOCKSTEP_LEDGER_DSN", dsn.String()) // not in the arguments: they show in the process list

	pair := electTwo(t, f)
	rev := f.configMapApps(t, n)
	f.waitSynced(t, rev, 2, 90*time.Second)
	t.Logf("leader %s killed with %d of %d synced", pair.killLeader(t), f.countSynced(t, rev), n)
	f.waitSynced(t, rev, n, 2*time.Minute)

	// The database goes away; a commit waits. (Its last answer vouches for it
	// for ledgerProbeAge: a sync within that second applies, its records
	// waiting in memory.)
	proxy.Down()
	time.Sleep(2 * time.Second)
	second := f.commit(t, "while the ledger is away", map[string]string{"app00/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings-00}\ndata: {INDEX: \"changed\"}\n"})
	f.refresh(t, "app00")
	app := f.waitFor(t, "app00", metav1.ConditionFalse, v1.ReasonLedgerUnavailable, "")
	if msg := readyMessage(app); strings.Contains(msg, pg.Password) {
		t.Errorf("the condition shows the database's password: %s", msg)
	}
	cm := &corev1.ConfigMap{}
	if err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: f.ns, Name: "settings-00"}, cm); err != nil || cm.Data["INDEX"] != "0" {
		t.Fatalf("settings-00 while the ledger was away: %v, %v; want it unchanged", cm.Data, err)
	}
	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	f.waitFor(t, "app00", metav1.ConditionTrue, v1.ReasonSucceeded, second)
	t.Logf("applied %s after the database came back", time.Since(back).Round(time.Millisecond))
	pair.stop(t)

	if out := runLocal(t, "audit", "verify", "--db", direct); !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify of the PostgreSQL ledger: %s", out)
	}
	// Each sync recorded once, in the one chain both replicas wrote.
	syncsOf := func(app, revision string) int {
		var recs []audit.Record
		if err := json.Unmarshal([]byte(runLocal(t, "audit", "--db", direct, "--app", f.ns+"/"+app, "--kind", "sync", "-o", "json")), &recs); err != nil {
			t.Fatal(err)
		}
		ok := 0
		for _, r := range recs {
			if r.Event == audit.EventSync && r.Revision == revision && r.Result == audit.Succeeded {
				ok++
			}
		}
		return ok
	}
	for i := range n {
		if got := syncsOf(fmt.Sprintf("app%02d", i), rev); got != 1 {
			t.Errorf("app%02d: %d successful Sync records of %.12s in the PostgreSQL ledger, want 1", i, got, rev)
		}
	}
	if got := syncsOf("app00", second); got != 1 {
		t.Errorf("app00: %d successful Sync records of %.12s (applied after the database came back), want 1", got, second)
	}
}
