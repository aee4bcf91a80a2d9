package images

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"github.com/enroot-agent/enroot-agent/pkg/importer"
)

// fakeEnroot stands in for enroot where the real one cannot run (unit
// tests: no squashfs-tools, no user namespaces needed). It is this test
// binary, copied as an executable named enroot that the daemon's code runs
// as the import user exactly as it runs enroot, and it speaks to registries
// the way enroot 4.1.2's docker.sh does:
//
//   - `digest URI` fetches the manifest (the index first, then this
//     architecture's manifest) and prints the registry's
//     Docker-Content-Digest header, unchecked, as enroot does;
//   - `import --output OUT URI` needs ENROOT_ALLOW_HTTP for http, asks
//     without credentials first and logs in with Basic from
//     $ENROOT_CONFIG_PATH/.credentials when challenged, fetches the
//     manifest, then each blob, whose sha256 it checks (enroot does), and
//     writes OUT: the squashfs magic, then every layer's bytes, so a test
//     can tell which image was imported.
//
// Each import is logged (pid and URI) to the file fake-enroot.log beside
// the binary; fake-enroot.json beside it holds a delay. The real enroot
// runs in e2e/imagecache.
type fakeEnroot struct {
	bin, log, conf string
}

type fakeConf struct {
	Sleep time.Duration `json:"sleep"`
	// Gate, when set, is a file each import waits for before it fetches.
	Gate string `json:"gate"`
	// DigestGate, when set, is a file each digest waits for (10 s at
	// most, then it fails) before it asks the registry.
	DigestGate string `json:"digest_gate"`
	// Pad is added to each squashfs: an image that unpacks bigger than it
	// downloads.
	Pad int `json:"pad"`
}

// TestMain is also the children the tests start: the importer when the
// binary is called as images-importer (as Pyxis runs it), the benchmark's
// client as images-hit-client, the fake when it
// is called as enroot, and a node killed mid-import (IMAGES_HELPER_DIR
// set). None of them runs a test, so none can be counted as one that
// passed.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "images-importer" {
		os.Exit(importerMain(os.Args[1:]))
	}
	if filepath.Base(os.Args[0]) == "images-hit-client" {
		os.Exit(hitClientMain())
	}
	if filepath.Base(os.Args[0]) == "enroot" {
		if err := fakeEnrootMain(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "fake enroot:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if dir := os.Getenv("IMAGES_HELPER_DIR"); dir != "" {
		os.Exit(helperNode(dir))
	}
	os.Exit(m.Run())
}

func newFakeEnroot(t testing.TB, sleep time.Duration) *fakeEnroot {
	t.Helper()
	dir := worldDir(t)
	f := &fakeEnroot{bin: filepath.Join(dir, "enroot"), log: filepath.Join(dir, "fake-enroot.log"), conf: filepath.Join(dir, "fake-enroot.json")}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.log, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(f.log, 0o666)
	f.setSleep(t, sleep)
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return f
}

func (f *fakeEnroot) setSleep(t testing.TB, d time.Duration) { f.configure(t, fakeConf{Sleep: d}) }

func (f *fakeEnroot) configure(t testing.TB, c fakeConf) {
	data, _ := json.Marshal(c)
	if err := os.WriteFile(f.conf, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// imports are the URIs the fake imported, in order.
func (f *fakeEnroot) imports(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(f.log)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if _, uri, ok := strings.Cut(l, " "); ok {
			out = append(out, uri)
		}
	}
	return out
}

func (f *fakeEnroot) count(t *testing.T) int { return len(f.imports(t)) }

func fakeEnrootMain(args []string) error {
	switch {
	case len(args) == 2 && args[0] == "digest":
		return fakeDigest(args[1])
	case len(args) == 4 && args[0] == "import" && args[1] == "--output":
		return fakeImport(args[2], args[3])
	}
	return fmt.Errorf("unexpected arguments %q", args)
}

// fakeClient is enroot's curl: the registry's scheme, Basic when asked.
type fakeClient struct {
	base, auth string
}

func newFakeClient(im imageref.Image) *fakeClient {
	scheme := "https"
	if os.Getenv("ENROOT_ALLOW_HTTP") != "" {
		scheme = "http"
	}
	return &fakeClient{base: scheme + "://" + im.Host() + "/v2/" + im.Path() + "/"}
}

func (c *fakeClient) get(method, path, accept string) (*http.Response, error) {
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized && c.auth == "" {
		resp.Body.Close()
		if err := c.login(resp.Header.Get("WWW-Authenticate")); err != nil {
			return nil, err
		}
		return c.get(method, path, accept)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s", method, c.base+path, resp.Status)
	}
	return resp, nil
}

// login finds the credentials file's line for the host, as enroot greps it.
func (c *fakeClient) login(challenge string) error {
	if !strings.HasPrefix(challenge, "Basic ") {
		return fmt.Errorf("challenge %q: the fake speaks Basic only", challenge)
	}
	f, err := os.Open(filepath.Join(os.Getenv("ENROOT_CONFIG_PATH"), ".credentials"))
	if err != nil {
		return err
	}
	defer f.Close()
	host := strings.Split(strings.Split(c.base, "://")[1], "/")[0]
	host, _, _ = strings.Cut(host, ":")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if w := strings.Fields(sc.Text()); len(w) == 6 && w[0] == "machine" && w[1] == host {
			c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(w[3]+":"+w[5]))
			return nil
		}
	}
	return fmt.Errorf("no credentials for %s", host)
}

const (
	acceptList     = "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json"
	acceptManifest = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
)

type fakeManifest struct {
	Manifests []struct {
		Digest   string `json:"digest"`
		Platform struct {
			Architecture string `json:"architecture"`
		} `json:"platform"`
	} `json:"manifests"`
	Config struct {
		Digest string `json:"digest"`
	} `json:"config"`
	Layers []struct {
		Digest string `json:"digest"`
	} `json:"layers"`
}

// manifestRef is enroot's: the index's amd64 entry when the answer is an
// index, else the reference itself.
func (c *fakeClient) manifestRef(ref string) (string, error) {
	resp, err := c.get(http.MethodGet, "manifests/"+ref, acceptList)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var m fakeManifest
	_ = json.NewDecoder(resp.Body).Decode(&m)
	for _, e := range m.Manifests {
		if e.Platform.Architecture == "amd64" {
			return e.Digest, nil
		}
	}
	return ref, nil
}

func fakeDigest(uri string) error {
	if err := waitDigestGate(); err != nil {
		return err
	}
	c, ref, err := manifestOf(uri)
	if err != nil {
		return err
	}
	resp, err := c.get(http.MethodHead, "manifests/"+ref, acceptManifest)
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Println(resp.Header.Get("Docker-Content-Digest"))
	return nil
}

// manifestOf is the client for uri's registry and the manifest reference
// (tag or digest) uri names there.
func manifestOf(uri string) (*fakeClient, string, error) {
	im, err := imageref.ParseURI(uri)
	if err != nil {
		return nil, "", err
	}
	c := newFakeClient(im)
	ref, err := c.manifestRef(refOf(uri))
	return c, ref, err
}

// refOf is the tag or digest of uri, as enroot's _parse_uri cuts it.
func refOf(uri string) string {
	if i := strings.LastIndex(uri, "@sha256:"); i >= 0 {
		return uri[i+1:]
	}
	rest := uri[strings.LastIndexAny(uri, "/#")+1:]
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		return rest[i+1:]
	}
	return "latest"
}

func waitDigestGate() error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return err
	}
	var conf fakeConf
	if data, err := os.ReadFile(filepath.Join(filepath.Dir(exe), "fake-enroot.json")); err == nil {
		_ = json.Unmarshal(data, &conf)
	}
	for end := time.Now().Add(10 * time.Second); conf.DigestGate != ""; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(conf.DigestGate); err == nil {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("the digest gate %s never opened", conf.DigestGate)
		}
	}
	return nil
}

func fakeImport(out, uri string) error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return err
	}
	dir := filepath.Dir(exe)
	var conf fakeConf
	if data, err := os.ReadFile(filepath.Join(dir, "fake-enroot.json")); err == nil {
		_ = json.Unmarshal(data, &conf)
	}
	lf, err := os.OpenFile(filepath.Join(dir, "fake-enroot.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(lf, "%d %s\n", os.Getpid(), uri)
	lf.Close()
	time.Sleep(conf.Sleep)
	for conf.Gate != "" {
		if _, err := os.Stat(conf.Gate); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, ref, err := manifestOf(uri)
	if err != nil {
		return err
	}
	resp, err := c.get(http.MethodGet, "manifests/"+ref, acceptManifest)
	if err != nil {
		return err
	}
	var m fakeManifest
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if err != nil || m.Config.Digest == "" || len(m.Layers) == 0 {
		return fmt.Errorf("could not parse digest information from %s (%v)", uri, err)
	}
	image := []byte("hsqs")
	for i, d := range append([]string{m.Config.Digest}, layerDigests(m)...) {
		blob, err := c.blob(d)
		if err != nil {
			return err
		}
		if i > 0 {
			image = append(image, blob...)
		}
	}
	return os.WriteFile(out, append(image, make([]byte, conf.Pad)...), 0o644)
}

func layerDigests(m fakeManifest) []string {
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// blob fetches a blob and checks it, as enroot's _download_extract does.
func (c *fakeClient) blob(d string) ([]byte, error) {
	resp, err := c.get(http.MethodGet, "blobs/"+d, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	sum := sha256.Sum256(data)
	if "sha256:"+hex.EncodeToString(sum[:]) != d {
		return nil, fmt.Errorf("checksum mismatch: %s", d)
	}
	return data, nil
}

// importerMain is `enroot-agent importer get URI | release`, talking to
// $IMAGES_SOCKET.
func importerMain(args []string) int {
	im := &importer.Importer{Socket: os.Getenv("IMAGES_SOCKET"), Getenv: os.Getenv, Stderr: os.Stderr}
	switch {
	case len(args) == 2 && args[0] == "get":
		path, err := im.Get(context.Background(), args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "importer:", err)
			return 1
		}
		fmt.Println(path)
		return 0
	case len(args) == 1 && args[0] == "release":
		_ = im.Release(context.Background())
		return 0
	}
	return 2
}
