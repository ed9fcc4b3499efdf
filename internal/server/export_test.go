package server

import "time"

// SetReadBodyTimeout shortens readBodyTimeout for a test; the returned
// function restores it.
func SetReadBodyTimeout(d time.Duration) (restore func()) {
	old := readBodyTimeout
	readBodyTimeout = d
	return func() { readBodyTimeout = old }
}

// SetMaxStreams lowers maxStreams for a test; the returned function
// restores it.
func SetMaxStreams(n int) (restore func()) {
	old := maxStreams
	maxStreams = n
	return func() { maxStreams = old }
}

// MaxStreamsPerCaller is maxStreamsPerCaller.
const MaxStreamsPerCaller = maxStreamsPerCaller

// SetRecheck shortens how often open streams recheck their caller, for a
// test; the returned function restores it.
func SetRecheck(d time.Duration) (restore func()) {
	old := recheck
	recheck = d
	return func() { recheck = old }
}
