package credentials

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// pull is one registry's probe session: the client, and the Authorization
// that login settled on, as enroot would send it.
type pull struct {
	client *http.Client
	host   string
	entry  Entry
	auth   string
	// redirected is the last host a redirect led to (ECR -> S3).
	redirected string
}

// login does what enroot does: GET /v2/, and on a 401 answer its challenge,
// Basic with the netrc entry, or Bearer by trading the entry for a token at
// the realm (scoped to repo when there is one).
func (p *pull) login(ctx context.Context, repo string) error {
	p.auth = ""
	resp, err := p.get(ctx, "https://"+p.host+"/v2/", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	challenge := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("GET /v2/ answered %s", resp.Status)
	}
	scheme, params := parseChallenge(challenge)
	switch scheme {
	case "basic":
		p.auth = basic(p.entry)
		resp, err := p.get(ctx, "https://"+p.host+"/v2/", nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /v2/ with the credentials answered %s", resp.Status)
		}
		return nil
	case "bearer":
		return p.bearer(ctx, params, repo)
	}
	return fmt.Errorf("GET /v2/ asks for %q authentication, which enroot does not speak", scheme)
}

func (p *pull) bearer(ctx context.Context, params map[string]string, repo string) error {
	u, err := url.Parse(params["realm"])
	if err != nil || u.Scheme != "https" {
		return fmt.Errorf("the Bearer realm %q is not an https URL", params["realm"])
	}
	q := u.Query()
	if s := params["service"]; s != "" {
		q.Set("service", s)
	}
	if repo != "" {
		q.Set("scope", "repository:"+repo+":pull")
	}
	u.RawQuery = q.Encode()
	resp, err := p.get(ctx, u.String(), map[string]string{"Authorization": basic(p.entry)})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the token endpoint %s answered %s", u.Host, resp.Status)
	}
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil || tok.Token+tok.AccessToken == "" {
		return fmt.Errorf("the token endpoint %s answered no token", u.Host)
	}
	p.auth = "Bearer " + tok.Token + tok.AccessToken
	return nil
}

func basic(e Entry) string {
	req := http.Request{Header: http.Header{}}
	req.SetBasicAuth(e.Login, e.Password.Reveal())
	return req.Header.Get("Authorization")
}

// parseChallenge reads `Bearer realm="…",service="…"` loosely.
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok {
			params[strings.ToLower(k)] = strings.Trim(v, `"`)
		}
	}
	return strings.ToLower(scheme), params
}
