package realchain

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/fake/slurm"
)

// writeConfig writes the agent's config and an empty site plugstack. The
// agent's state and cache live in the work dir; everything else is where a
// node has it, on the real root.
func (c *Chain) writeConfig(mirror string) error {
	ca, err := os.ReadFile(c.Registry.CAFile)
	if err != nil {
		return err
	}
	caFile := filepath.Join(c.Dir, "registry-ca.pem") // readable by the job's user
	if err := os.WriteFile(caFile, ca, 0o644); err != nil {
		return err
	}
	slurmDir := filepath.Join(c.Dir, "slurm")
	if err := os.Mkdir(slurmDir, 0o755); err != nil {
		return err
	}
	c.Plugstack = filepath.Join(slurmDir, "plugstack.conf")
	if err := os.WriteFile(c.Plugstack, []byte("# site SPANK plugins\n"), 0o644); err != nil {
		return err
	}
	c.Config = filepath.Join(c.Dir, "config.yaml")
	yaml := fmt.Sprintf(`# The real Enroot and Pyxis, from a local mirror of their releases.
enroot:
  version: %[2]s
  source: %[1]s
  conf:
    # enroot's curl reaches the ECR host name through a local proxy and
    # trusts the test registry's CA.
    https_proxy: %[6]s
    SSL_CERT_FILE: %[7]s
pyxis:
  version: %[3]s
  source: %[1]spyxis-{version}.tar.gz
  sha256: %[4]s
  slurm_prefix: /usr   # Debian's Slurm
  plugstack: %[8]s
ecr:
  registries: [%[5]s]
state_dir: %[9]s/state
cache_dir: %[9]s/cache
`, mirror, pkgrepo.RealEnrootVersion, pkgrepo.RealPyxisVersion, c.upstream.Sums["pyxis-"+pkgrepo.RealPyxisVersion+".tar.gz"],
		c.Host, c.Proxy.URL, caFile, c.Plugstack, c.Dir)
	return os.WriteFile(c.Config, []byte(yaml), 0o644)
}

// Agent runs the agent on the real root (no --root) with the chain's config.
func (c *Chain) Agent(args ...string) (stdout, stderr string, code int) {
	all := append([]string{"--config", c.Config, "--log-format", "console"}, args...)
	cmd := exec.Command(c.Bin, all...)
	cmd.Env = c.Env
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code == 0 {
		code = -1
	}
	return c.Redact(out.String()), c.Redact(errOut.String()), code
}

// AgentFiles are the files and directories the agent owns on the node, for
// Snapshot: a converged node's apply must not touch any of them.
func (c *Chain) AgentFiles() []string {
	return []string{"/etc/enroot", "/etc/sysctl.d/90-enroot-agent.conf", "/etc/tmpfiles.d/enroot-agent.conf",
		"/usr/local/lib/slurm", "/run/enroot-agent", filepath.Dir(c.Plugstack), c.StateDir, filepath.Join(c.Dir, "cache")}
}

// StartSlurm starts munged, slurmctld and slurmd reading the plugstack the
// agent wired, with a PATH that reaches /usr/bin/enroot.
func (c *Chain) StartSlurm() error {
	node := c.Node
	if node == "" {
		node = "ea-real1"
	}
	s, err := slurm.StartWith(node, slurm.Options{PlugStack: c.Plugstack, Share: c.Share,
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}})
	if err != nil {
		return err
	}
	c.Slurm = s
	c.closers = append(c.closers, s.Close)
	if err := c.guard.AddDir(s.Dir); err != nil {
		return err
	}
	if err := s.WaitNode(60 * time.Second); err != nil {
		return fmt.Errorf("%v\n%s", err, s.Logs())
	}
	return nil
}

// AddUser creates the non-root user who runs the job (deleted by Close).
func (c *Chain) AddUser() error {
	name := "earc" + randomHex(4)
	if err := c.guard.AddUser(name); err != nil {
		return err
	}
	home := filepath.Join(c.Dir, "home-"+name)
	if out, err := exec.Command("useradd", "-m", "-d", home, "-s", "/bin/bash", "-U", name).CombinedOutput(); err != nil {
		return fmt.Errorf("useradd: %v: %s", err, out)
	}
	c.User = name
	return nil
}

// Srun runs, as the user and with a login-like environment of their own,
// srun --container-image=<image> cat <file>.
func (c *Chain) Srun(ctx context.Context) (stdout, stderr string, err error) {
	if c.User == "" || c.Slurm == nil {
		return "", "", errors.New("Srun needs AddUser and StartSlurm first")
	}
	cmd := c.SrunCmd(ctx, c.User)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), c.Redact(errOut.String()), err
}

// SrunCmd is the command Srun runs, as user (one AddUser made), with env
// added to the job's environment (srun passes it on to Pyxis and Enroot).
// The caller redacts what it prints of stderr.
func (c *Chain) SrunCmd(ctx context.Context, user string, env ...string) *exec.Cmd {
	return c.SrunTask(ctx, user, env, "--container-image="+c.Image, "cat", c.File)
}

// SrunTask is `srun -N1 args...` as user (one AddUser made), with env added
// to the job's environment: a job step of the user's, with its real
// slurmstepd, running whatever args say.
func (c *Chain) SrunTask(ctx context.Context, user string, env []string, args ...string) *exec.Cmd {
	return c.UserCmd(ctx, user, append([]string{"srun", "-N1"}, args...), env...)
}

// UserCmd runs args (a Slurm command line) as user, with a login-like
// environment of their own plus env.
func (c *Chain) UserCmd(ctx context.Context, user string, args []string, env ...string) *exec.Cmd {
	home := filepath.Join(c.Dir, "home-"+user)
	all := append([]string{"-u", user, "--", "env", "-i",
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "PWD=" + home, "USER=" + user, "LOGNAME=" + user,
		"SLURM_CONF=" + c.Slurm.Conf}, env...)
	cmd := exec.CommandContext(ctx, "runuser", append(all, args...)...)
	cmd.Dir = home
	return cmd
}

// DefaultImporter is where the packages install the agent, which Pyxis
// runs as its importer with images.importer at its default.
const DefaultImporter = "/usr/bin/enroot-agent"

// InstallImporter puts the agent binary at DefaultImporter, so the image
// cache runs with every default; the host guard removes it. A machine that
// has one already (the package) is refused: it is not the test's to
// replace.
func (c *Chain) InstallImporter() error {
	if !c.guard.wasAbsent(DefaultImporter) {
		return fmt.Errorf("%s exists on this machine (the enroot-agent package?): the image cache test installs and removes its own; remove it first", DefaultImporter)
	}
	data, err := os.ReadFile(c.Bin)
	if err != nil {
		return err
	}
	return os.WriteFile(DefaultImporter, data, 0o755)
}

// SrunLine is the command Srun runs, for people to read.
func (c *Chain) SrunLine() string {
	return "srun --container-image=" + c.Image + " cat " + c.File
}

// UpstreamDir is where the real Enroot and Pyxis artifacts come from.
func (c *Chain) UpstreamDir() string { return c.upstream.Dir }

// Token is the password the ECR emulator hands out and the registry wants.
func (c *Chain) Token() string { return c.token }

// Redact hides every token the ECR emulator issued, and the registry's.
func (c *Chain) Redact(s string) string {
	tokens := []string{c.token}
	if c.ECR != nil {
		tokens = append(tokens, c.ECR.Issued()...)
	}
	for _, t := range tokens {
		if t != "" {
			s = strings.ReplaceAll(s, t, "[REDACTED]")
		}
	}
	return s
}

// Close stops everything the chain started and restores the host, work dir
// included; the error says what could not be restored.
func (c *Chain) Close() error {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
	c.closers = nil
	if c.guard == nil {
		return nil
	}
	err := c.guard.Restore() // the users, then the work dir holding their homes
	c.guard = nil
	return err
}
