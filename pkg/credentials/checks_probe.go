package credentials

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// Fixes for each probe stage that fails.
const (
	loginFix    = "; a 401 means the registry refuses the credentials in the file"
	manifestFix = "check the image exists and the credentials may pull it (ECR: ecr:BatchGetImage and the repository policy)"
	s3Fix       = "ECR serves layers from S3: give the node's subnet an S3 gateway endpoint (or a route to S3) whose policy allows s3:GetObject on arn:aws:s3:::prod-<region>-starport-layer-bucket/*"
	blobFix     = "the registry sends layers to another host: let the node reach it (proxy, firewall, endpoint policy)"
)

// probe pulls as enroot would, from each registry with the credentials of
// the first file: login, then for each verify.probe_images entry of that
// registry the manifest and the first bytes of one layer. Each stage is
// reported, and kept for the metrics (LastProbe).
func (c checker) probe(ctx context.Context) verify.Result {
	files := c.files()
	if len(files) == 0 {
		return verify.Unknownf("set enroot_config_path or files", "no credentials file to probe with")
	}
	data, err := atomicfile.ReadFile(files[0][1])
	if err != nil {
		return verify.Failf(refreshFix, "%s: %v", files[0][0], unwrapPath(err))
	}
	s, _ := c.status()
	netrc := ParseNetrc(string(data))
	var stages []Stage
	for _, h := range c.registries(s) {
		e, ok := netrc.Lookup(h)
		if !ok {
			stages = append(stages, Stage{Registry: h, Name: "login", Err: "no entry to probe with", Fix: refreshFix})
			continue
		}
		stages = append(stages, c.probeHost(ctx, h, e)...)
	}
	recordProbe(stages)
	return probeResult(stages)
}

// probeHost probes one registry: login alone, or the three stages for each
// test image of that registry.
func (c checker) probeHost(ctx context.Context, host string, e Entry) []Stage {
	var out []Stage
	for _, img := range c.Config.Verify.ProbeImages {
		if h, repo, ref, _ := config.ParseImage(img); h == host {
			out = append(out, c.pullStages(ctx, host, e, repo, ref)...)
		}
	}
	if out == nil {
		out = c.pullStages(ctx, host, e, "", "")
	}
	return out
}

func (c checker) pullStages(ctx context.Context, host string, e Entry, repo, ref string) []Stage {
	image := ""
	if repo != "" {
		image = host + "#" + repo + ":" + ref
		if strings.HasPrefix(ref, "sha256:") {
			image = host + "#" + repo + "@" + ref
		}
	}
	p := &pull{client: c.client(), host: host, entry: e}
	p.client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		p.redirected = req.URL.Host
		if len(via) >= 5 {
			return fmt.Errorf("stopped after %d redirects", len(via))
		}
		return nil
	}
	st := func(name string, err error, fix string) Stage {
		s := Stage{Registry: host, Image: image, Name: name}
		if err != nil {
			s.Err, s.Fix = err.Error(), fix
		}
		return s
	}
	out := []Stage{st("login", p.login(ctx, repo), refreshFix+loginFix)}
	if repo == "" || out[0].Err != "" {
		return out
	}
	digest, err := p.firstLayer(ctx, repo, ref)
	out = append(out, st("manifest", err, manifestFix))
	if err != nil {
		return out
	}
	err = p.layer(ctx, repo, digest)
	fix := blobFix
	if err != nil && p.redirected != "" {
		what := "blob storage"
		if isECRHost(host) {
			what, fix = "S3", s3Fix
		}
		err = fmt.Errorf("%s unreachable (redirected to %s): %w", what, p.redirected, err)
	}
	return append(out, st("layer", err, fix))
}

func (c checker) client() *http.Client {
	if c.Client != nil {
		cl := *c.Client
		return &cl
	}
	return &http.Client{Timeout: 10 * time.Second}
}
