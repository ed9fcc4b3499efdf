package sandbox

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

var sink [][]byte

// freeHeap is the heap memory that is free and not yet returned to the
// operating system.
const freeHeap = "/memory/classes/heap/free:bytes"

func readFreeHeap() uint64 {
	s := []metrics.Sample{{Name: freeHeap}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestAQuietRenderProcessGivesItsMemoryBack(t *testing.T) {
	for range 64 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	runtime.GC()
	if free := readFreeHeap(); free < 16<<20 {
		t.Fatalf("the runtime kept only %d MiB of 64 MiB freed: the test has nothing to give back", free>>20)
	}
	rendered := whenQuiet(50 * time.Millisecond)
	rendered()
	// Well before Go's background scavenger would have returned 64 MiB.
	for deadline := time.Now().Add(time.Second); readFreeHeap() > 8<<20; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d MiB of freed heap still kept 1 s after the last render", readFreeHeap()>>20)
		}
	}
}
