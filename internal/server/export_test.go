package server

import "time"

// SetReadBodyTimeout shortens readBodyTimeout for a test; the returned
// function restores it.
func SetReadBodyTimeout(d time.Duration) (restore func()) {
	old := readBodyTimeout
	readBodyTimeout = d
	return func() { readBodyTimeout = old }
}
