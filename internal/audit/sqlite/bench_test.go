package sqlite_test

import (
	"testing"

	"github.com/lockstep-dev/lockstep/internal/audit/storetest"
)

// BenchmarkLedgerAppend measures records written per second, each append a
// durable transaction (synchronous=FULL) with a signed head checkpoint.
func BenchmarkLedgerAppend(b *testing.B) { storetest.BenchmarkAppend(b, newDatabase) }

// BenchmarkLedgerSize writes 10,000 typical records and reports the size of the
// database on disk, and how long a full verification of them takes.
func BenchmarkLedgerSize(b *testing.B) { storetest.BenchmarkSize(b, newDatabase) }
