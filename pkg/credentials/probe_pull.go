package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
)

var manifestTypes = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

type manifest struct {
	Manifests []struct {
		Digest   string
		Platform struct{ OS, Architecture string }
	}
	Layers []struct{ Digest string }
}

// firstLayer fetches the manifest (following an index to this node's
// platform) and returns its first layer's digest.
func (p *pull) firstLayer(ctx context.Context, repo, ref string) (string, error) {
	m, err := p.manifest(ctx, repo, ref)
	if err != nil {
		return "", err
	}
	if len(m.Manifests) > 0 {
		pick := m.Manifests[0].Digest
		for _, d := range m.Manifests {
			if d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
				pick = d.Digest
				break
			}
		}
		if m, err = p.manifest(ctx, repo, pick); err != nil {
			return "", err
		}
	}
	if len(m.Layers) == 0 {
		return "", errors.New("the manifest lists no layer")
	}
	return m.Layers[0].Digest, nil
}

func (p *pull) manifest(ctx context.Context, repo, ref string) (manifest, error) {
	var m manifest
	resp, err := p.get(ctx, "https://"+p.host+"/v2/"+repo+"/manifests/"+ref, map[string]string{"Accept": manifestTypes})
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("GET manifest %s:%s answered %s", repo, ref, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&m); err != nil {
		return m, fmt.Errorf("the manifest of %s:%s is not JSON", repo, ref)
	}
	return m, nil
}

// layerProbeBytes bounds the layer read: enough to prove bytes flow.
const layerProbeBytes = 1024

// layer reads the first bytes of one blob, following the registry's
// redirect (ECR answers with a presigned S3 URL; Go drops the registry's
// Authorization on the way to another host, as S3 requires).
func (p *pull) layer(ctx context.Context, repo, digest string) error {
	resp, err := p.get(ctx, "https://"+p.host+"/v2/"+repo+"/blobs/"+digest,
		map[string]string{"Range": fmt.Sprintf("bytes=0-%d", layerProbeBytes-1)})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		return fmt.Errorf("GET blob answered %s", resp.Status)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, layerProbeBytes))
	if err != nil || n == 0 {
		return fmt.Errorf("read %d bytes of the blob: %v", n, err)
	}
	return nil
}

// get sends one request with the session's Authorization, recording where
// redirects led; transport errors lose the URL (the caller names it).
func (p *pull) get(ctx context.Context, u string, headers map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if p.auth != "" {
		req.Header.Set("Authorization", p.auth)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	p.redirected = ""
	resp, err := p.client.Do(req)
	var ue interface{ Unwrap() error }
	if err != nil && errors.As(err, &ue) && ue.Unwrap() != nil {
		err = ue.Unwrap()
	}
	return resp, err
}
