package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/enroot-agent/enroot-agent/internal/fake"
)

// ShippedRules is the rules file the package installs
// (/usr/share/enroot-agent/.../enroot-agent.rules.yml).
const ShippedRules = "packaging/prometheus/enroot-agent.rules.yml"

// PrometheusBinary is Debian's prometheus server.
const PrometheusBinary = "/usr/bin/prometheus"

// Prometheus is Debian's real Prometheus server on the host, scraping every
// node's agent (/metrics on its verify.listen) as the cluster's monitoring
// would, with alert rules.
type Prometheus struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Alert is one active alert as Prometheus's API reports it.
type Alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"` // pending or firing
}

// RulesWithFor is the shipped rules file with every rule's `for:` set to
// forDur: the expressions, labels and annotations are the shipped ones, but
// a test cannot wait the 5 to 15 minutes an operator wants before paging.
func RulesWithFor(forDur string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(fake.ModuleRoot(), ShippedRules))
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", ShippedRules, err)
	}
	groups, _ := doc["groups"].([]any)
	for _, g := range groups {
		rules, _ := g.(map[string]any)["rules"].([]any)
		for _, r := range rules {
			if rule, ok := r.(map[string]any); ok && rule["for"] != nil {
				rule["for"] = forDur
			}
		}
	}
	return yaml.Marshal(doc)
}

// StartPrometheus runs prometheus with rules, scraping every node's agent
// every second (job enroot-agent, instance = the node's name), and waits
// until it answers.
func (c *Cluster) StartPrometheus(rules []byte) (*Prometheus, error) {
	if _, err := os.Stat(PrometheusBinary); err != nil {
		return nil, errors.New("prometheus not found: install the Debian package prometheus (scripts/test-deps.sh)")
	}
	dir, err := os.MkdirTemp(c.Dir, "prometheus-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), rules, 0o644); err != nil {
		return nil, err
	}
	var targets []any
	for _, n := range c.Nodes() {
		targets = append(targets, map[string]any{"targets": []string{"127.0.0.1:" + strconv.Itoa(n.AgentPort)},
			"labels": map[string]string{"instance": n.Name}})
	}
	conf, err := yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
		"rule_files":     []string{filepath.Join(dir, "rules.yml")},
		"scrape_configs": []any{map[string]any{"job_name": "enroot-agent", "static_configs": targets}},
	})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), conf, 0o644); err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	p := &Prometheus{URL: "http://" + addr, done: make(chan struct{}), log: filepath.Join(dir, "prometheus.log")}
	logf, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	p.cmd = exec.Command(PrometheusBinary, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(p.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("prometheus exited:\n%s", p.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.Close()
	return nil, fmt.Errorf("prometheus not ready after 1m:\n%s", p.Log())
}

// Alerts are the active (pending or firing) alerts.
func (p *Prometheus) Alerts(ctx context.Context) ([]Alert, error) {
	var out struct {
		Data struct {
			Alerts []Alert `json:"alerts"`
		} `json:"data"`
	}
	return out.Data.Alerts, p.get(ctx, "/api/v1/alerts", &out)
}

// Query evaluates an instant query and returns each series' labels and
// value.
func (p *Prometheus) Query(ctx context.Context, query string) ([]Sample, error) {
	var out struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := p.get(ctx, "/api/v1/query?query="+url.QueryEscape(query), &out); err != nil {
		return nil, err
	}
	var samples []Sample
	for _, r := range out.Data.Result {
		v, _ := r.Value[1].(string)
		samples = append(samples, Sample{Labels: r.Metric, Value: v})
	}
	return samples, nil
}

// Sample is one series of a query's answer.
type Sample struct {
	Labels map[string]string
	Value  string
}

func (p *Prometheus) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("prometheus %s: HTTP %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Log is what prometheus printed.
func (p *Prometheus) Log() string {
	data, _ := os.ReadFile(p.log)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// Close stops prometheus.
func (p *Prometheus) Close() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
