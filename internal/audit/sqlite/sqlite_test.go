package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/audit/sqlite"
	"github.com/lockstep-dev/lockstep/internal/audit/storetest"
)

// newDatabase is an empty ledger file in a temporary folder, with a raw
// connection to it for playing the attacker.
func newDatabase(t testing.TB) storetest.Database {
	path := filepath.Join(t.TempDir(), "ledger.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return storetest.Database{
		Open: func(t testing.TB) audit.Store {
			store, err := sqlite.Open(context.Background(), path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = store.Close() })
			return store
		},
		Raw: raw,
		// The database file, and the write-ahead log not yet folded into it
		// (SQLite folds it every 1,000 pages, so it stays a few MiB).
		Size: func(t testing.TB) map[string]float64 {
			out := map[string]float64{}
			for suffix, unit := range map[string]string{"": "db-MiB/10k-records", "-wal": "wal-MiB"} {
				if fi, err := os.Stat(path + suffix); err == nil {
					out[unit] = float64(fi.Size()) / (1 << 20)
				}
			}
			return out
		},
	}
}

// TestStore runs the contract every ledger store meets.
func TestStore(t *testing.T) { storetest.Run(t, newDatabase) }

func TestOpenRefusesWhatIsNotALedger(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := sqlite.Open(ctx, filepath.Join(dir, "missing.db"), sqlite.Options{MustExist: true}); err == nil {
		t.Error("a missing file was opened with MustExist")
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not sqlite ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, junk, sqlite.Options{MustExist: true}); err == nil || !strings.Contains(err.Error(), "not a SQLite database") {
		t.Errorf("junk file: %v", err)
	}
}
