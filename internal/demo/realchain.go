package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/realchain"
)

// realChain is the demo's last part: the same job on this machine's real
// root, with NVIDIA's real Enroot packages and the real Pyxis, real Slurm
// daemons, and a non-root user whose srun --container-image prints a file
// from an image that only the agent's ECR token can pull. Everything it
// changes on the machine is put back at the end (realchain.Guard).
func realChain(bin string) (err error) {
	title("the real chain, on this machine's real root: real Enroot "+pkgrepo.RealEnrootVersion+" and Pyxis "+
		pkgrepo.RealPyxisVersion+", real Slurm daemons, a non-root user's srun", "")
	c, err := realchain.Start(bin)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	fmt.Printf("registry %s on %s, reached by enroot through the proxy %s; Enroot and Pyxis served from %s\n",
		c.Host, c.Registry.Addr, c.Proxy.URL, c.UpstreamDir())
	config, _ := os.ReadFile(c.Config)
	title("the config", "cat "+c.Config)
	fmt.Print(string(config))
	title("enroot-agent apply on the real root: Enroot's missing prerequisites with apt-get, the packages with dpkg, "+
		"Pyxis built against this Slurm (its log is as in the sandbox above; here the summary)", bin+" --config "+c.Config+" apply")
	out, errOut, code := c.Agent("apply")
	fmt.Print(out)
	if code != 0 {
		return fmt.Errorf("apply on the real root: exit %d\n%s", code, errOut)
	}
	if err := c.StartSlurm(); err != nil {
		return err
	}
	if err := c.AddUser(); err != nil {
		return err
	}
	title("slurmctld and slurmd run with the plugstack the agent wired; user "+c.User+" (no setup of their own) runs a container job",
		"runuser -u "+c.User+" -- "+c.SrunLine())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stdout, stderr, err := c.Srun(ctx)
	if err != nil {
		return fmt.Errorf("srun as %s: %v\n%s\n%s", c.User, err, stderr, c.Redact(c.Slurm.Logs()))
	}
	fmt.Print(stdout)
	return nil
}

// title prints a section header and, when given, the command line.
func title(what, cmdline string) {
	fmt.Printf("\n\033[1m# %s\033[0m\n", what)
	if cmdline != "" {
		fmt.Printf("\033[1m$ %s\033[0m\n", cmdline)
	}
}
