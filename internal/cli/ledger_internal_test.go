package cli

import (
	"context"
	"strings"
	"testing"
)

// --db takes what --ledger-dsn takes, key=value settings too, and an error
// opening them never shows their password (they used to be taken for a file
// name, quoted whole in "no such file").
func TestLedgerDBSettingsAreOpenedAndTheirPasswordNotShown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := openDB(ctx, "host="+t.TempDir()+" port=5 user=audit password=hunter2-secret dbname=ledger connect_timeout=2 sslmode=disable")
	if err == nil {
		t.Fatal("opened a database that does not exist")
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "failed to connect") {
		t.Errorf("error: %v", err)
	}
}
