package cluster

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/fake/registry"
	"github.com/enroot-agent/enroot-agent/internal/fake/rendezvous"
)

// What the cluster's nodes reach over the network, as on AWS: ECR (one
// regional endpoint), the instance metadata service (each node its own),
// the registry under its ECR host name, and a mirror standing in for the S3
// bucket of the package and the script and for NVIDIA's release pages.
const (
	Account   = "123456789012"
	Region    = "us-east-1"
	ECRHost   = Account + ".dkr.ecr." + Region + ".amazonaws.com"
	ImageRepo = "ml/hello"
	ImageTag  = "v1"
	// Image is the --container-image of the test image.
	Image = ECRHost + "#" + ImageRepo + ":" + ImageTag
	// GreetingFile is the file the test image holds.
	GreetingFile = "/etc/greeting"
)

// Services are the stand-ins outside the nodes.
type Services struct {
	ECR      *aws.ECR
	IMDS     map[string]*aws.IMDS // by node name
	Registry *registry.Registry
	Proxy    *aws.ConnectProxy
	// MirrorURL serves upstream/ (the real Enroot and Pyxis), packages/
	// (the agent's), configs/ (each node's config) and scripts/.
	MirrorURL string
	Greeting  string // the content of GreetingFile in Image
	Digest    string // Image's manifest digest

	token   string
	dir     string
	closers []func()
}

// startServices starts every stand-in; Close stops them.
func startServices(dir string, up *pkgrepo.Upstream, nodes []*Node) (s *Services, err error) {
	s = &Services{IMDS: map[string]*aws.IMDS{}, dir: dir, token: "ecr" + randomHex(20),
		Greeting: "hello from " + ECRHost + " " + randomHex(4)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.ECR, err = aws.StartECR(); err != nil {
		return s, err
	}
	s.closers = append(s.closers, s.ECR.Close)
	s.ECR.SetPassword(s.token)
	for i, n := range nodes {
		m, err := aws.StartIMDSInstance(Account, Region, "i-0c1a57e7000000"+fmtInt2(i), "10.0.0."+fmtInt2(10+i))
		if err != nil {
			return s, err
		}
		s.closers = append(s.closers, m.Close)
		s.IMDS[n.Name] = m
		s.ECR.AccessKey = m.AccessKey // every node has the same instance role
	}
	if err := s.startRegistry(); err != nil {
		return s, err
	}
	return s, s.startMirror(up.Dir)
}

// startRegistry runs Debian's docker-registry with TLS under the ECR host
// name, wanting the token ECR hands out, with the test image pushed, and the
// CONNECT proxy through which the nodes' enroot reaches it by that name.
func (s *Services) startRegistry() error {
	dir := filepath.Join(s.dir, "registry")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	var err error
	if s.Registry, err = registry.Start(dir, []string{ECRHost}, s.token); err != nil {
		return err
	}
	s.closers = append(s.closers, s.Registry.Close)
	ref := ECRHost + ":" + s.Registry.Port + "/" + ImageRepo + ":" + ImageTag
	if s.Digest, err = s.Registry.PushFileImage(ref, s.token, map[string]string{GreetingFile: s.Greeting + "\n"}); err != nil {
		return err
	}
	if s.Proxy, err = aws.StartConnectProxy(map[string]string{ECRHost: s.Registry.Addr}); err != nil {
		return err
	}
	s.closers = append(s.closers, s.Proxy.Close)
	return nil
}

// startMirror serves the upstream artifacts and the cluster's own files
// over HTTP on 127.0.0.1, which every node reaches.
func (s *Services) startMirror(upstream string) error {
	mux := http.NewServeMux()
	mux.Handle("/upstream/", http.StripPrefix("/upstream/", http.FileServer(http.Dir(upstream))))
	for _, d := range []string{"packages", "configs", "scripts"} {
		p := filepath.Join(s.dir, "mirror", d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		mux.Handle("/"+d+"/", http.StripPrefix("/"+d+"/", http.FileServer(http.Dir(p))))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	s.closers = append(s.closers, func() { srv.Close() })
	s.MirrorURL = "http://" + ln.Addr().String()
	return nil
}

// Publish puts data on the mirror as kind/name (kind: packages, configs,
// scripts) and returns its URL.
func (s *Services) Publish(kind, name string, data []byte) (string, error) {
	if kind != "packages" && kind != "configs" && kind != "scripts" {
		return "", errors.New("publish: unknown kind " + kind)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "mirror", kind, name), data, 0o644); err != nil {
		return "", err
	}
	return s.MirrorURL + "/" + kind + "/" + name, nil
}

// PushImage pushes another image (a shell, cat and files) to the registry
// as repo:tag under the ECR host, and returns its --container-image name.
func (s *Services) PushImage(repo, tag string, files map[string]string) (string, error) {
	ref := ECRHost + ":" + s.Registry.Port + "/" + repo + ":" + tag
	if _, err := s.Registry.PushFileImage(ref, s.token, files); err != nil {
		return "", err
	}
	return ECRHost + "#" + repo + ":" + tag, nil
}

// PushRendezvous pushes the rendezvous image (rendezvous.Push:
// the static program and PYTORCH_VERSION) as repo:tag under the ECR host,
// and returns its --container-image name.
func (s *Services) PushRendezvous(repo, tag string) (string, error) {
	ref := ECRHost + ":" + s.Registry.Port + "/" + repo + ":" + tag
	if _, err := rendezvous.Push(s.Registry, ref, s.token); err != nil {
		return "", err
	}
	return ECRHost + "#" + repo + ":" + tag, nil
}

// RegistryLog is the registry's log: an access line per request, with the
// bytes it sent.
func (s *Services) RegistryLog() string {
	data, _ := os.ReadFile(filepath.Join(s.dir, "registry", "registry.log"))
	return string(data)
}

// StopRegistry takes the registry down (an outage of the registry, seen
// from every node); StartRegistry brings it back with its images.
func (s *Services) StopRegistry() { s.Registry.Close() }

// StartRegistry restarts the registry stopped by StopRegistry.
func (s *Services) StartRegistry() error { return s.Registry.SetPassword(s.token) }

// Token is the password ECR hands out and the registry wants.
func (s *Services) Token() string { return s.token }

// Close stops every stand-in.
func (s *Services) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

func fmtInt2(i int) string {
	return string([]byte{byte('0' + i/10%10), byte('0' + i%10)})
}

// Redact hides every token ECR issued, and the registry's.
func (s *Services) Redact(text string) string {
	for _, t := range append([]string{s.token}, s.ECR.Issued()...) {
		if t != "" {
			text = strings.ReplaceAll(text, t, "[REDACTED]")
		}
	}
	return text
}

// SrunArgs is the container job of the scenarios: srun on nodes compute
// nodes, each task printing the greeting from the image and its node.
func SrunArgs(nodes int) []string {
	return []string{"srun", "-N" + strconv.Itoa(nodes), "--container-image=" + Image,
		"sh", "-c", `echo "$(cat ` + GreetingFile + `) on $SLURMD_NODENAME"`}
}
