package importer

import (
	"slices"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// The importer starts as the job's user at every container start: it stays
// a small tool. Its dependencies are the standard library and these.
var allowedDeps = []string{
	"github.com/enroot-agent/enroot-agent/internal/rootsock",
	"github.com/enroot-agent/enroot-agent/pkg/imageref",
	"golang.org/x/sys/unix",
}

func TestImportsStayLight(t *testing.T) {
	for _, dep := range testenv.Deps(t, false) {
		if dep == "github.com/enroot-agent/enroot-agent/pkg/importer" || strings.HasPrefix(dep, "golang.org/x/sys/") && dep != "golang.org/x/sys/unix" {
			continue
		}
		if !slices.Contains(allowedDeps, dep) {
			t.Errorf("pkg/importer depends on %s: keep it to the standard library and %v", dep, allowedDeps)
		}
	}
}
