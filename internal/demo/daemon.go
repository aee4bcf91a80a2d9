package main

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// daemon starts `enroot-agent run` as systemd would, shows what a health
// probe and Prometheus read from it, and stops it with SIGTERM.
func (n *node) daemon() error {
	fmt.Printf("\n\033[1m# the daemon, as systemd runs it\n$ %s --root %s run &\033[0m\n", n.bin, n.root)
	cmd := exec.Command(n.bin, "--root", n.root, "--log-format", "console", "run")
	var logs strings.Builder
	cmd.Env, cmd.Stdout, cmd.Stderr = n.env, &logs, &logs
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		fmt.Printf("\n\033[1m# its log, until SIGTERM\033[0m\n%s", logs.String())
	}()
	base := "http://" + n.listen
	if !fake.Eventually(60*time.Second, func() bool {
		out, err := get(base + "/healthz")
		return err == nil && strings.HasPrefix(out, "HTTP 200")
	}) {
		return fmt.Errorf("the daemon did not answer /healthz within 60s")
	}
	for _, path := range []string{"/healthz", "/verify"} {
		out, err := get(base + path)
		if err != nil {
			return err
		}
		fmt.Printf("\n\033[1m$ curl %s%s\033[0m\n%s\n", base, path, out)
	}
	out, err := get(base + "/metrics")
	if err != nil {
		return err
	}
	fmt.Printf("\n\033[1m$ curl %s/metrics | grep ^enroot_agent | grep -v ' 0$'\033[0m\n", base)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "enroot_agent") && !strings.HasSuffix(line, " 0") {
			fmt.Println(line)
		}
	}
	return nil
}
