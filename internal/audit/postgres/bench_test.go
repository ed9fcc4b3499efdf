package postgres_test

import (
	"testing"

	"github.com/lockstep-dev/lockstep/internal/audit/storetest"
)

// BenchmarkLedgerAppend measures records written per second, each append a
// durable transaction (the server's defaults: fsync, synchronous_commit) with a
// signed head checkpoint, over loopback.
func BenchmarkLedgerAppend(b *testing.B) { storetest.BenchmarkAppend(b, newDatabase) }

// BenchmarkLedgerSize writes 10,000 typical records and reports the size of
// the ledger's tables with their indexes, and how long a full verification of
// them takes.
func BenchmarkLedgerSize(b *testing.B) { storetest.BenchmarkSize(b, newDatabase) }
