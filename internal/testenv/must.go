package testenv

import (
	"os"
	"testing"
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
