package main

import (
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// The S3 acceptance through the daemon: a node that logs in to ECR and
// reads manifests but cannot reach S3 (a private subnet without an S3
// gateway endpoint). Debian's docker-registry plays the node's ECR registry
// behind a front that redirects blobs to an S3 stand-in, as ECR does; the
// daemon reaches it by its production name through the standard
// HTTPS_PROXY and SSL_CERT_FILE, which Go's HTTP client honours.
func TestVerifyProbeSaysS3IsUnreachable(t *testing.T) {
	const host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	image := host + "#ml/hello:v1"
	tok := token()
	awsFor(t).ecr.SetPassword(tok)
	reg := testenv.StartRegistry(t, []string{host}, tok)
	if _, err := reg.PushFileImage(reg.Addr+"/ml/hello:v1", tok, map[string]string{"/etc/greeting": "hi\n"}); err != nil {
		t.Fatal(err)
	}
	front := testenv.StartBlobRedirect(t, reg, tok)
	proxy, err := aws.StartConnectProxy(map[string]string{host: front.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	root, listen, bus := healthyNode(t, "  cache_ttl: 1s\n  probe_registries: true\n  probe_images: [\""+image+"\"]\n")
	a := startAgent(t, root, listen, 0, bus, "HTTPS_PROXY="+proxy.URL, "SSL_CERT_FILE="+reg.CAFile)
	a.waitNotify(0, "READY=1", 90*time.Second)
	url := "http://" + listen

	// S3 reachable: the whole pull passes, through the proxy.
	code, rep, body := getReport(t, url+"/verify")
	if p := probeResult(rep); code != 200 || p.Status != verify.OK || !strings.Contains(p.Message, image+": login ok, manifest ok, layer ok") {
		t.Fatalf("S3 reachable: %d, probe %+v\n%s", code, p, body)
	}
	if proxy.Tunnels() == 0 {
		t.Fatal("the probe passed without going through HTTPS_PROXY to the registry")
	}

	front.StopS3()
	fake.Eventually(20*time.Second, func() bool { code, rep, body = getReport(t, url+"/verify"); return code != 200 })
	p := probeResult(rep)
	want := image + ": login ok, manifest ok, layer: S3 unreachable (redirected to " + front.S3Addr + "):"
	if code != 503 || p.Status != verify.Fail || !strings.Contains(p.Message, want) || !strings.Contains(p.Fix, "S3 gateway endpoint") {
		t.Fatalf("S3 stopped: %d, probe %+v, want %q\n%s", code, p, want, body)
	}
	if failing := firstFailing(rep.Results); failing != "credentials-probe" {
		t.Fatalf("S3 stopped: the first failing check is %q, want only credentials-probe\n%s", failing, body)
	}

	_, metrics := get(t, url+"/metrics")
	got := map[string]float64{}
	for _, m := range parseMetrics(t, metrics)["enroot_agent_registry_probe_stage_ok"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["registry"] == host && labels["image"] == image {
			got[labels["stage"]] = m.GetGauge().GetValue()
		}
	}
	if len(got) != 3 || got["login"] != 1 || got["manifest"] != 1 || got["layer"] != 0 {
		t.Fatalf("enroot_agent_registry_probe_stage_ok for %s: %v, want login 1, manifest 1, layer 0\n%s", image, got, metrics)
	}
	if strings.Contains(body+metrics+a.log.String(), tok) {
		t.Fatal("the token leaked into /verify, /metrics or the daemon's log")
	}
}

// probeResult is the credentials-probe check of a report.
func probeResult(rep verify.Report) verify.Result {
	for _, r := range rep.Results {
		if r.Name == "credentials-probe" {
			return r
		}
	}
	return verify.Result{}
}
