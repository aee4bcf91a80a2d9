package images

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/rootsock"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
)

// Importer is the Pyxis side: `enroot-agent importer get URI` and
// `release`, run by Pyxis as the job's user in the job's environment.
type Importer struct {
	Socket string
	Getenv func(string) string
	Stderr io.Writer
}

// Get returns the squashfs Pyxis should use for uri. It asks the daemon
// with a digest the user resolved themselves (so the registry vouched for
// the user), and falls back to the user's own enroot import whenever the
// cache cannot serve: a cache problem never fails a job that would have run
// without it.
func (im *Importer) Get(ctx context.Context, uri string) (string, error) {
	path, err := im.fromCache(ctx, uri)
	if err == nil {
		return path, nil
	}
	fmt.Fprintf(im.Stderr, "enroot-agent importer: image cache not used (%v); importing %s as this user\n", err, uri)
	return im.ownImport(ctx, uri)
}

func (im *Importer) fromCache(ctx context.Context, uri string) (string, error) {
	if _, err := imageref.ParseURI(uri); err != nil {
		return "", err
	}
	d, err := im.digest(ctx, uri)
	if err != nil {
		return "", err
	}
	resp, err := im.ask(ctx, request{Op: "get", URI: uri, Digest: d, Job: im.Getenv("SLURM_JOB_ID"), Step: im.Getenv("SLURM_STEP_ID")}, 25*time.Hour)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(resp.Path, "/") {
		return "", fmt.Errorf("the daemon answered no path")
	}
	return resp.Path, nil
}

// digest is `enroot digest URI` as this user, with their credentials.
func (im *Importer) digest(ctx context.Context, uri string) (imageref.Digest, error) {
	cmd := exec.CommandContext(ctx, "enroot", "digest", uri)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("enroot digest %s: %v: %s", uri, err, tail(errOut.String()))
	}
	return imageref.ParseDigest(lastLine(string(out)))
}

// ask sends one request to the daemon, which must run as root.
func (im *Importer) ask(ctx context.Context, req request, wait time.Duration) (response, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := rootsock.Dial(dctx, im.Socket)
	if err != nil {
		return response{}, fmt.Errorf("the agent's image cache (%s): %w", im.Socket, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	data, _ := json.Marshal(req)
	if _, err := c.Write(append(data, '\n')); err != nil {
		return response{}, err
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	var resp response
	if err == nil {
		err = json.Unmarshal(line, &resp)
	}
	if err == nil && resp.Error != "" {
		err = errors.New(resp.Error)
	}
	return resp, err
}

// ownPath is where the fallback import goes, as Pyxis's simple importer.
func (im *Importer) ownPath() (string, error) {
	rt, uid := im.Getenv("PYXIS_RUNTIME_PATH"), im.Getenv("SLURM_JOB_UID")
	job, step := im.Getenv("SLURM_JOB_ID"), im.Getenv("SLURM_STEP_ID")
	if !filepath.IsAbs(rt) || !idRE(uid) || !idRE(job) || !idRE(step) {
		return "", fmt.Errorf("PYXIS_RUNTIME_PATH, SLURM_JOB_UID, SLURM_JOB_ID and SLURM_STEP_ID must be set (run by Pyxis)")
	}
	return filepath.Join(rt, uid, job+"."+step+".squashfs"), nil
}

func (im *Importer) ownImport(ctx context.Context, uri string) (string, error) {
	out, err := im.ownPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return "", err
	}
	_ = os.Remove(out) // a leftover of this step's earlier try
	cmd := exec.CommandContext(ctx, "enroot", "import", "--output", out, uri)
	cmd.Stdout, cmd.Stderr = im.Stderr, im.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("enroot import %s: %w", uri, err)
	}
	return out, nil
}

// Release drops this step's holds and its fallback file; it is idempotent.
func (im *Importer) Release(ctx context.Context) error {
	if out, err := im.ownPath(); err == nil {
		_ = os.Remove(out)
	}
	_, err := im.ask(ctx, request{Op: "release", Job: im.Getenv("SLURM_JOB_ID"), Step: im.Getenv("SLURM_STEP_ID")}, 30*time.Second)
	if err != nil {
		fmt.Fprintf(im.Stderr, "enroot-agent importer: release: %v (the daemon expires the hold once the step is gone)\n", err)
	}
	return nil
}
