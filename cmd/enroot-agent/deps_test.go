package main

import (
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// The agent links no AWS SDK: every AWS call runs in the AWS helper,
// cmd/enroot-agent-aws (internal/awsproc). The SDK's package initialisers
// alone kept about 8 MB of the idle daemon resident on every node.
func TestAgentLinksNoAWSSDK(t *testing.T) {
	deps := testenv.Deps(t, false)
	if len(deps) < 20 {
		t.Fatalf("go list -deps named %d packages, not the agent's: %v", len(deps), deps)
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, "github.com/aws/") || strings.HasSuffix(dep, "/internal/awssdk") {
			t.Errorf("the agent links %s: AWS calls belong in the AWS helper (internal/awssdk, run through internal/awsproc)", dep)
		}
	}
}
