package credentials

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/secret"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// MaxLine is a fact about curl, not a guess: with the real curl and
// --netrc-file, an entry whose line is exactly MaxLine bytes sends its
// credentials, and one byte more sends none (curl says nothing about it).
// A curl with another bound fails this test, and the constant must move.
func TestCurlNetrcLineBound(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl not found: install the Debian package curl (scripts/test-deps.sh)")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	host := strings.Split(strings.TrimPrefix(srv.URL, "http://"), ":")[0]
	code := func(lineLen int) string {
		e := Entry{Host: host, Login: "AWS"}
		e.Password = secret.New(strings.Repeat("a", lineLen-len(e.line())))
		if n := len(e.line()); n != lineLen {
			t.Fatalf("line is %d bytes, want %d", n, lineLen)
		}
		netrc := filepath.Join(t.TempDir(), "netrc")
		if err := os.WriteFile(netrc, []byte(e.line()), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--netrc-file", netrc, srv.URL+"/v2/").Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		return string(out)
	}
	if got := code(MaxLine); got != "200" {
		t.Errorf("a %d-byte line: HTTP %s, want 200 (curl sent the credentials)", MaxLine, got)
	}
	if got := code(MaxLine + 1); got != "401" {
		t.Errorf("a %d-byte line: HTTP %s, want 401 (curl sends nothing): MaxLine is no longer curl's bound", MaxLine+1, got)
	}
}

// A secret too long for curl's netrc line is refused with the registry's
// name, the last good value stays, and the file never outgrows what the
// agent reads back: once the secret is fixed (here after a 1 MiB one), the
// next read replaces it. The longest value that fits is served.
func TestOversizedSecretRefusedLastGoodKept(t *testing.T) {
	e := kindsEmulators(t)
	r, logs, file := realRefresher(t, kindsYAML)
	ctx := context.Background()
	if err := r.RefreshNow(ctx); err != nil {
		t.Fatal(err)
	}
	// authn.nvidia.com is NGC's longer host: its line decides.
	fixed := len(Entry{Host: "authn.nvidia.com", Login: config.NGCLogin}.line())
	for _, size := range []int{MaxLine - fixed + 1, 1 << 20} {
		big := "k" + strings.Repeat("x", size-1)
		e.stores.Set("secretsmanager:cluster/ngc", big)
		err := r.RefreshSecrets(ctx)
		if err == nil || !strings.Contains(err.Error(), `secrets registry "ngc"`) || !strings.Contains(err.Error(), "enroot's curl silently ignores a line over 4095 bytes") ||
			!strings.Contains(err.Error(), fmt.Sprintf("at most %d bytes fit", MaxLine-fixed)) || strings.Contains(err.Error(), "xxxx") {
			t.Fatalf("%d-byte secret: %v", size, err)
		}
		got := readFile(t, file)
		if !strings.Contains(got, "password ngckey1\n") || strings.Contains(got, "xxxx") || len(got) > 8<<10 {
			t.Fatalf("%d-byte secret: the last good value must stay and the refused one never be written (%d bytes)", size, len(got))
		}
	}
	fits := "k" + strings.Repeat("y", MaxLine-fixed-1)
	e.stores.Set("secretsmanager:cluster/ngc", fits)
	if err := r.RefreshSecrets(ctx); err != nil {
		t.Fatalf("a value that fits, after the refused ones: %v", err)
	}
	n := ParseNetrc(readFile(t, file))
	for _, h := range []string{"nvcr.io", "authn.nvidia.com"} {
		if got, ok := n.Lookup(h); !ok || got.Password.Reveal() != fits || len(got.line()) > MaxLine {
			t.Fatalf("%s: the value that fits is not served", h)
		}
	}
	if strings.Contains(logs.String(), "xxxx") || strings.Contains(logs.String(), "yyyy") {
		t.Fatal("a secret reached the log")
	}
}

// An ECR token too long for curl is refused like a secret: the registry's
// last good token stays.
func TestOversizedECRTokenRefused(t *testing.T) {
	_, ecr := awsEmulators(t)
	r, _, file := realRefresher(t, "ecr:\n  registries: [123456789012.dkr.ecr.us-east-1.amazonaws.com]\n  refresh_before_expiry: 11h\n")
	ctx := context.Background()
	ecr.SetPassword("goodtoken1")
	if err := r.RefreshNow(ctx); err != nil {
		t.Fatal(err)
	}
	ecr.SetPassword("t" + strings.Repeat("z", MaxLine))
	err := r.RefreshNow(ctx)
	if err == nil || !strings.Contains(err.Error(), "us-east-1") || !strings.Contains(err.Error(), "refused, not written") || strings.Contains(err.Error(), "zzzz") {
		t.Fatalf("oversized token: %v", err)
	}
	if got := readFile(t, file); !strings.Contains(got, "password goodtoken1\n") || strings.Contains(got, "zzzz") {
		t.Fatalf("the last good token must stay:\n%.200s", got)
	}
}

// Whatever the secrets and the lines an admin added, the agent never writes
// a credentials file it would refuse to read back: with foreign lines that
// leave no room, the write is refused with what to remove, and the file
// stays as it was (readable, so the agent keeps control of its lines); once
// the admin trims them, the next refresh writes again.
func TestNeverWritesAFileItCannotReadBack(t *testing.T) {
	e := kindsEmulators(t)
	r, _, file := realRefresher(t, kindsYAML)
	ctx := context.Background()
	if err := r.RefreshNow(ctx); err != nil {
		t.Fatal(err)
	}
	line := "machine other.example.com login admin password " + strings.Repeat("f", 200) + "\n"
	ours := readFile(t, file)
	foreign := strings.Repeat(line, (atomicfile.MaxRead-len(ours)-100)/len(line))
	before := ours + foreign
	if len(before) > atomicfile.MaxRead || len(before) < atomicfile.MaxRead-len(line)-100 {
		t.Fatalf("fixture: %d bytes", len(before))
	}
	if err := os.WriteFile(file, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	e.stores.Set("secretsmanager:cluster/ngc", "k"+strings.Repeat("n", 3000)) // longer lines than before
	err := r.RefreshSecrets(ctx)
	if err == nil || !strings.Contains(err.Error(), "over the 1048576 bytes the agent reads back: not written, left as it is") ||
		!strings.Contains(err.Error(), "are lines the agent does not own: remove some of them") || strings.Contains(err.Error(), "nnnn") {
		t.Fatalf("refresh with a full file: %v", err)
	}
	if got := readFile(t, file); got != before {
		t.Fatal("the file changed")
	}
	if err := os.WriteFile(file, []byte(readFile(t, file)[:len(before)-len(foreign)/2]), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.RefreshSecrets(ctx); err != nil {
		t.Fatalf("after the admin trimmed their lines: %v", err)
	}
	if got := readFile(t, file); len(got) > atomicfile.MaxRead || !strings.Contains(got, "nnnn\n") {
		t.Fatalf("the new value is not written (%d bytes)", len(got))
	}
}

// The agent's own lines alone always fit: the most hosts the config
// accepts, each with the longest line curl reads, fill at most half of what
// the agent reads back.
func TestOwnLinesAlwaysFit(t *testing.T) {
	if config.MaxRegistryHosts*MaxLine > atomicfile.MaxRead/2 {
		t.Fatalf("%d hosts × %d bytes exceed half of %d", config.MaxRegistryHosts, MaxLine, atomicfile.MaxRead)
	}
	var want []Entry
	for i := range config.MaxRegistryHosts {
		e := Entry{Host: fmt.Sprintf("h%03d.example.com", i), Login: "AWS"}
		e.Password = secret.New(strings.Repeat("p", MaxLine-len(e.line())))
		want = append(want, e)
	}
	data := ParseNetrc(strings.Repeat("#", atomicfile.MaxRead/2-1)+"\n").MergeOwned(want, func(Entry) bool { return true }).Render()
	if err := fitsReadBack(data, want); err != nil || len(data) > atomicfile.MaxRead {
		t.Fatalf("%d bytes: %v", len(data), err)
	}
}
