// Package arch holds no code: its test enforces the architecture, so that the
// pure pipeline stages stay pure.
package arch
