package registry

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

func (r *Registry) start() error {
	logs, err := os.OpenFile(filepath.Join(r.dir, "registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(Binary, "serve", filepath.Join(r.dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // gone with a killed test
	if err := cmd.Start(); err != nil {
		logs.Close()
		return err
	}
	r.cmd, r.logs = cmd, logs
	return r.waitReady()
}

// waitReady polls /v2/ until the registry asks for credentials.
func (r *Registry) waitReady() error {
	client := &http.Client{Transport: r.Transport(), Timeout: 2 * time.Second}
	if fake.Eventually(20*time.Second, func() bool {
		resp, err := client.Get("https://" + r.Addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized
	}) {
		return nil
	}
	log, _ := os.ReadFile(filepath.Join(r.dir, "registry.log"))
	return fmt.Errorf("docker-registry on %s did not come up:\n%s", r.Addr, log)
}

// Close stops the registry process this Registry started.
func (r *Registry) Close() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.logs.Close()
	r.cmd = nil
}
