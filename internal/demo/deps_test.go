package main

import (
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// The demo is a program: it links the fakes (internal/fake/...) and the
// real-chain harness, never the testing package or the test helpers that
// take a testing.TB (internal/testenv). A fake that needs a *testing.T
// belongs in testenv's wrapper, not in the fake.
func TestDemoLinksNoTesting(t *testing.T) {
	deps := testenv.Deps(t, true)
	if len(deps) < 10 {
		t.Fatalf("go list -deps named %d packages, not the demo's: %v", len(deps), deps)
	}
	for _, dep := range deps {
		if dep == "testing" || strings.HasPrefix(dep, "testing/") || strings.HasSuffix(dep, "/internal/testenv") {
			t.Errorf("the demo links %s: keep testing and internal/testenv out of internal/demo's non-test files and of every package they import (go list -deps ./internal/demo)", dep)
		}
	}
}
