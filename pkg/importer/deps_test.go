package importer

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The importer starts as the job's user at every container start: it stays
// a small tool. Its dependencies are the standard library and these.
var allowedDeps = []string{
	"github.com/enroot-agent/enroot-agent/internal/rootsock",
	"github.com/enroot-agent/enroot-agent/pkg/imageref",
	"golang.org/x/sys/unix",
}

func TestImportsStayLight(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/enroot-agent/enroot-agent/pkg/importer" || strings.HasPrefix(dep, "golang.org/x/sys/") && dep != "golang.org/x/sys/unix" {
			continue
		}
		ok := false
		for _, a := range allowedDeps {
			ok = ok || dep == a
		}
		if !ok {
			t.Errorf("pkg/importer depends on %s: keep it to the standard library and %v", dep, allowedDeps)
		}
	}
}
