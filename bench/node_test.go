package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// node is a --root sandbox in which apply converges everything from local
// stand-ins: enroot packages and the Pyxis tarball over HTTP, tokens from the
// ECR and IMDS emulators. PATH starts with counting wrappers of the tools a
// converge may start, so a benchmark can prove that a warm apply starts none.
type node struct {
	root, bin, counts string
	enroot, pyxis     *pkgrepo.ArtifactServer
	env               []string
}

// wrapped are the tools counted: package managers, and the Pyxis build.
var wrapped = []string{"dpkg", "dpkg-query", "dpkg-deb", "apt-get", "apt", "rpm", "dnf", "yum", "make", "cc", "gcc", "bash"}

func newNode(b *testing.B) *node { return newNodeAt(b, b.TempDir()) }

// newNodeAt is newNode with the sandbox at root.
func newNodeAt(b *testing.B, root string) *node {
	b.Helper()
	n := &node{root: root, bin: testenv.Binary(b), enroot: testenv.StartArtifactServer(b)}
	if err := pkgrepo.MakeDebRoot(n.root); err != nil {
		b.Fatal(err)
	}
	version := config.Default().Enroot.Version
	debs, err := pkgrepo.BuildEnrootDebs(b.TempDir(), version)
	if err != nil {
		b.Fatal(err)
	}
	yaml := fmt.Sprintf("enroot:\n  source: %q\n  checksums:\n", n.enroot.URL+"v{version}/")
	for name, p := range debs {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		n.enroot.Put("v"+version+"/"+name, data)
		sum := sha256.Sum256(data)
		yaml += fmt.Sprintf("    %q: %s\n", name, hex.EncodeToString(sum[:]))
	}
	pyxisYAML, srv := testenv.PyxisSandbox(b, n.root)
	n.pyxis = srv
	writeFile(b, filepath.Join(n.root, "etc/enroot-agent/config.yaml"), yaml+pyxisYAML)
	imds := testenv.StartIMDS(b, "123456789012", "us-east-1")
	ecr := testenv.StartECR(b)
	ecr.AccessKey = imds.AccessKey
	n.env = append(aws.CleanEnv(os.Environ()), aws.Env(imds, ecr, b.TempDir())...)
	n.env = append(n.env, "PATH="+n.wrappers(b)+":"+os.Getenv("PATH"))
	return n
}

// wrappers writes one script per tool that logs its name, then runs the
// real tool, and returns their directory.
func (n *node) wrappers(b *testing.B) string {
	dir := b.TempDir()
	n.counts = filepath.Join(dir, "started.log")
	for _, tool := range wrapped {
		real, err := exec.LookPath(tool)
		if err != nil {
			continue // not on this machine: the agent cannot start it either
		}
		script := fmt.Sprintf("#!/bin/sh\necho %s >> %s\nexec %s \"$@\"\n", tool, n.counts, real)
		if err := os.WriteFile(filepath.Join(dir, tool), []byte(script), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// started counts the wrapped tools started so far, by name.
func (n *node) started() map[string]int {
	data, _ := os.ReadFile(n.counts)
	out := map[string]int{}
	for _, t := range strings.Fields(string(data)) {
		out[t]++
	}
	return out
}

func (n *node) downloads() int { return n.enroot.Requests("") + n.pyxis.Requests("") }

// apply runs the real binary once and returns its wall time (process start
// included) and its JSON log.
func (n *node) apply(b *testing.B) (time.Duration, string) {
	b.Helper()
	cmd := exec.Command(n.bin, "--root", n.root, "--log-format", "json", "apply")
	cmd.Env = n.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("apply: %v\n%s\n%s", err, out.String(), errb.String())
	}
	return took, errb.String()
}

func writeFile(b *testing.B, path, data string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		b.Fatal(err)
	}
}
