package testenv

import (
	"os"
	"testing"
	"time"
)

// WriteFile writes a test's fixture and fails the test when it cannot: a
// setup step that fails silently leaves a test that proves nothing.
func WriteFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatalf("setup: %v", err)
	}
}

// MkdirAll makes a test's directory and fails the test when it cannot.
func MkdirAll(t testing.TB, path string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(path, mode); err != nil {
		t.Fatalf("setup: %v", err)
	}
}

// Eventually polls cond until it holds or timeout passes, and reports
// whether it held. Tests wait for what they need this way rather than
// sleeping for a timer inside the code under test: the deadline is generous
// (a loaded machine is slow), and a fast one does not wait for it.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
	}
}
