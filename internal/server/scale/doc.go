// Package scale measures the operator API at scale against the real local
// control plane. It holds no code of its own: its benchmarks live in its test
// files and start the control plane only when a benchmark runs, so `make test`
// compiles them and runs nothing. See BENCHMARKS.md for the numbers and the
// commands.
package scale
