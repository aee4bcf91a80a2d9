package pkgrepo

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// UpstreamEnv names a directory holding the real Enroot .debs, the real
// Pyxis tarball and their SHA256SUMS, instead of <module root>/../shared/upstream
// (where CI puts a copy of them beside the checkout).
const UpstreamEnv = "ENROOT_AGENT_UPSTREAM"

// The versions of the real upstream artifacts the real chain and the
// cluster test bed install: the files LoadUpstream is asked for name them.
const (
	RealEnrootVersion = "4.1.2"
	RealPyxisVersion  = "0.24.0"
)

// Upstream is the verified directory of real upstream artifacts.
type Upstream struct {
	Dir  string
	Sums map[string]string // file name -> sha256, from SHA256SUMS
}

// LoadUpstream finds the upstream directory, reads its SHA256SUMS and checks
// that every file named in need is there with that digest: a test of the
// real chain must not run on a truncated or replaced package.
func LoadUpstream(need ...string) (*Upstream, error) {
	dir := os.Getenv(UpstreamEnv)
	if dir == "" {
		dir = filepath.Join(fake.ModuleRoot(), "..", "shared", "upstream")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		return nil, fmt.Errorf("the real Enroot and Pyxis artifacts: %w (put them in ../shared/upstream beside the checkout, or set %s)", err, UpstreamEnv)
	}
	defer f.Close()
	u := &Upstream{Dir: dir, Sums: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sum, name, ok := strings.Cut(strings.TrimSpace(sc.Text()), "  "); ok {
			u.Sums[name] = sum
		}
	}
	for _, name := range need {
		if err := u.check(name); err != nil {
			return nil, err
		}
	}
	return u, sc.Err()
}

func (u *Upstream) check(name string) error {
	want, ok := u.Sums[name]
	if !ok {
		return fmt.Errorf("%s/SHA256SUMS does not list %s", u.Dir, name)
	}
	data, err := os.ReadFile(filepath.Join(u.Dir, name))
	if err != nil {
		return fmt.Errorf("the real artifact %s: %w", name, err)
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != want {
		return fmt.Errorf("%s/%s does not match its SHA256SUMS line", u.Dir, name)
	}
	return nil
}
