package credentials

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// probe logs in to each registry with the token from the first credentials
// file, as a pull would: GET https://<host>/v2/ with basic auth must be 200.
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
	var bad []string
	hosts := c.registries(s)
	for _, h := range hosts {
		e, ok := netrc.Lookup(h)
		if !ok {
			bad = append(bad, h+": no entry to probe with")
			continue
		}
		if err := c.login(ctx, h, e); err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", h, err))
		}
	}
	if len(bad) > 0 {
		return verify.Failf(refreshFix+"; a 401 means ECR no longer accepts the token", "registry login failed: %s", strings.Join(bad, "; "))
	}
	return verify.Ok(fmt.Sprintf("%d registr%s accepted the token (GET /v2/)", len(hosts), plural(len(hosts), "y", "ies")))
}

func (c checker) login(ctx context.Context, host string, e Entry) error {
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/v2/", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(e.Login, e.Password.Reveal())
	resp, err := client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			return ue.Unwrap() // the URL is already named; keep the cause
		}
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v2/ answered %s", resp.Status)
	}
	return nil
}
