// Command demo runs the agent's main job on this machine, the way it runs on a
// ParallelCluster compute node, against local stand-ins: IMDSv2 and ECR
// emulators reached through the real AWS SDK, Debian's real docker-registry
// holding an image under an ECR host name, an artifact server with the Enroot
// packages and the Pyxis tarball, real dpkg in a sandbox root, and this
// machine's real Slurm; then the same on a cluster of systemd nodes with the
// Slurm ParallelCluster ships (internal/cluster). It prints what an admin and
// a user would see.
//
//	go run ./internal/demo bin/enroot-agent
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const (
	host     = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	imageRef = "ml/train:v1"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: demo path/to/enroot-agent")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: %v\n", err)
		os.Exit(1)
	}
}

func run(bin string) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if err := sandbox(bin); err != nil {
		return err
	}
	if err := realChain(bin); err != nil {
		return err
	}
	return clusterDemo()
}

// sandbox is the agent's main job in a --root sandbox, with fixture
// packages, so every step and every file it writes can be shown.
func sandbox(bin string) error {
	n, err := newNode(bin)
	if err != nil {
		return err
	}
	defer n.close()
	fmt.Printf("sandbox root: %s\nECR emulator %s, IMDS emulator %s, registry %s (%s)\n",
		n.root, n.ecr.URL, n.imds.URL, host, n.reg.Addr)

	n.show("the config (every other key is a default)", "cat", n.cfg)
	n.agent("validate")
	n.agent("apply", "--dry-run")
	n.agent("apply")
	n.agent("apply") // a converged node: every step done, nothing written
	n.agent("verify", "--local")
	n.userPull()
	n.srunHelp()
	return n.daemon()
}

// show prints a command line and runs it, output to the terminal.
func (n *node) show(title string, name string, args ...string) {
	fmt.Printf("\n\033[1m# %s\n$ %s %s\033[0m\n", title, name, strings.Join(args, " "))
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = n.env, os.Stdout, os.Stdout
	if err := cmd.Run(); err != nil {
		fmt.Printf("(exit: %v)\n", err)
	}
}

func (n *node) agent(args ...string) {
	all := append([]string{"--root", n.root, "--log-format", "console"}, args...)
	n.show("enroot-agent "+args[0], n.bin, all...)
}

// userPull is what a job's enroot does: as an unprivileged user, fetch the
// manifest with curl and the netrc file that user's enroot would read.
func (n *node) userPull() {
	netrc := n.root + "/run/enroot-agent/enroot-config/.credentials"
	n.show("as user nobody, pull the image manifest with the agent's credentials (enroot uses curl --netrc-file the same way)",
		"runuser", "-u", "nobody", "--", "curl", "-sS", "--http1.1", "-o", "/dev/null",
		"--netrc-file", netrc, "--cacert", n.reg.CAFile, "--resolve", host+":"+n.reg.Port+":127.0.0.1",
		"-H", "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
		"-w", "HTTP %{http_code} digest %header{docker-content-digest}\n",
		"https://"+host+":"+n.reg.Port+"/v2/ml/train/manifests/v1")
}

// srunHelp shows that Slurm's own srun loads the plugin the agent built and
// wired into the plugstack.
func (n *node) srunHelp() {
	n.show("srun loads the plugstack the agent wrote and lists the plugin's option",
		"sh", "-c", "SLURM_CONF="+n.slurmConf+" srun --help | grep -B1 -A1 container-image")
	n.show("the plugstack the agent wired: the admin's line kept, one include", "cat", n.slurm+"/etc/plugstack.conf", n.slurm+"/etc/plugstack.conf.d/pyxis.conf")
}

func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "9464"
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return fmt.Sprintf("HTTP %d\n%s", resp.StatusCode, body), err
}
