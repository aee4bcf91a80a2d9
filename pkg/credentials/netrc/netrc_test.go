package netrc

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/secret"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

const (
	hostA = "111122223333.dkr.ecr.us-east-1.amazonaws.com"
	hostB = "111122223333.dkr.ecr.eu-west-1.amazonaws.com"
	hostC = "444455556666.dkr.ecr.us-east-1.amazonaws.com"
)

// owned is the rule the refresher gives Merge for ECR: login AWS on an ECR
// host, and never a password that is a user's command.
func owned(e Entry) bool {
	_, err := config.ParseRegistry(e.Host)
	return err == nil && e.Login == "AWS" && !strings.HasPrefix(e.Password.Reveal(), "$")
}

func entry(host, tok string) Entry { return Entry{Host: host, Login: "AWS", Password: secret.New(tok)} }

func TestMergeKeepsForeignAndReplacesOurs(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty file", "", "machine " + hostA + " login AWS password NEW\n"},
		{
			"foreign entries, comments, default, no trailing newline",
			"# my registries\nmachine nvcr.io login $oauthtoken password abc\n\n  machine indented login u password p\ndefault login anonymous password me@x",
			"machine " + hostA + " login AWS password NEW\n# my registries\nmachine nvcr.io login $oauthtoken password abc\n\n  machine indented login u password p\ndefault login anonymous password me@x",
		},
		{
			"our old token replaced in place of duplicates, user's $() line for another host kept",
			"machine " + hostA + " login AWS password OLD\nmachine nvcr.io login u password p\nmachine " + hostA + " login AWS password OLDER\nmachine " + hostC + " login AWS password $(aws ecr get-login-password)\n",
			"machine " + hostA + " login AWS password NEW\nmachine nvcr.io login u password p\nmachine " + hostC + " login AWS password $(aws ecr get-login-password)\n",
		},
		{
			"a dropped registry's token is removed",
			"machine " + hostB + " login AWS password GONE\nmachine docker.io login u password p\n",
			"machine " + hostA + " login AWS password NEW\nmachine docker.io login u password p\n",
		},
		{
			"CRLF lines keep their endings; ours are LF so enroot reads no \\r",
			"machine nvcr.io login u password p\r\nmachine " + hostA + " login AWS password OLD\r\n# c\r\n",
			"machine " + hostA + " login AWS password NEW\nmachine nvcr.io login u password p\r\n# c\r\n",
		},
		{
			"macdef bodies are text, not entries, up to the empty line",
			"macdef init\nmachine " + hostA + " login AWS password INMACRO\n\nmachine " + hostA + " login AWS password OLD\n",
			"machine " + hostA + " login AWS password NEW\nmacdef init\nmachine " + hostA + " login AWS password INMACRO\n\n",
		},
		{
			"a multi-line entry is foreign even for our host (enroot cannot read it)",
			"machine " + hostA + "\n  login AWS\n  password X\n",
			"machine " + hostA + " login AWS password NEW\nmachine " + hostA + "\n  login AWS\n  password X\n",
		},
		{
			"a line that continues a value from the line before is not an entry",
			"machine x login u password\nmachine " + hostB + " login AWS password Y\n",
			"machine " + hostA + " login AWS password NEW\nmachine x login u password\nmachine " + hostB + " login AWS password Y\n",
		},
		{
			"look-alike hosts are not ours",
			"machine " + hostA + ".evil.example login AWS password K\n",
			"machine " + hostA + " login AWS password NEW\nmachine " + hostA + ".evil.example login AWS password K\n",
		},
	}
	for _, c := range cases {
		got := string(Parse(c.in).Merge([]Entry{entry(hostA, "NEW")}, owned).Render())
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestMergeIsIdempotentAndOrdered(t *testing.T) {
	want := []Entry{entry(hostB, "b"), entry(hostA, "a")}
	in := "# keep\nmachine nvcr.io login u password p"
	once := Parse(in).Merge(want, owned).Render()
	twice := Parse(string(once)).Merge(want, owned).Render()
	if string(once) != string(twice) {
		t.Fatalf("second merge changed the file:\n%q\n%q", once, twice)
	}
	if !strings.HasPrefix(string(once), "machine "+hostB+" login AWS password b\nmachine "+hostA) {
		t.Fatalf("order: %q", once)
	}
	// Nothing wanted: our entries go, the rest stays byte for byte.
	if got := string(Parse(string(once)).Merge(nil, owned).Render()); got != in {
		t.Fatalf("emptied: %q", got)
	}
}

func TestParseEntries(t *testing.T) {
	n := Parse("machine a login u password p1\n#machine b login u password p\nmachine a\tlogin v\tpassword p2\r\nmachine \"q\" login u password p\n" +
		"login x password y\nmachine c login u password p # trailing\n")
	var got []string
	for _, e := range n.entries() {
		got = append(got, e.Host+"/"+e.Login+"/"+e.Password.Reveal())
	}
	if strings.Join(got, " ") != "a/u/p1 a/v/p2" {
		t.Fatalf("entries %v", got)
	}
	if e, ok := n.Lookup("a"); !ok || e.Password.Reveal() != "p1" {
		t.Fatalf("lookup takes the first entry, as enroot does: %+v", e)
	}
}

func FuzzNetrcMerge(f *testing.F) {
	for _, s := range []string{"", "machine a login b password c", "macdef x\nbody\n\nmachine " + hostA + " login AWS password t\r\n",
		"default login a password b\n", "machine \"a b\" login \"c\\\"d\" password e\n# c\n", "machine\n"} {
		f.Add(s)
	}
	want := []Entry{entry(hostA, "NEW")}
	f.Fuzz(func(t *testing.T, in string) {
		n := Parse(in)
		if string(n.Render()) != in {
			t.Fatalf("render is not the input: %q", in)
		}
		out := n.Merge(want, owned).Render()
		again := Parse(string(out)).Merge(want, owned).Render()
		if string(out) != string(again) {
			t.Fatalf("merge not idempotent for %q:\n%q\n%q", in, out, again)
		}
		if e, ok := Parse(string(out)).Lookup(hostA); !ok || e.Password.Reveal() != "NEW" {
			t.Fatalf("our entry is not what enroot finds first in %q", out)
		}
		if c := strings.Count(string(out), "\nmachine "+hostA+" login AWS password NEW\n"); c > 0 {
			t.Fatalf("our line appears twice in %q", out)
		}
	})
}

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
		e.Password = secret.New(strings.Repeat("a", lineLen-len(e.Line())))
		if n := len(e.Line()); n != lineLen {
			t.Fatalf("line is %d bytes, want %d", n, lineLen)
		}
		netrc := filepath.Join(t.TempDir(), "netrc")
		if err := os.WriteFile(netrc, []byte(e.Line()), 0o600); err != nil {
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

func TestCheckValue(t *testing.T) {
	for _, v := range []string{"", "$x", "a b", "a\nb", "a\x00b", "a\tb", "a#b", "\xff"} {
		if CheckValue(v) == nil {
			t.Errorf("%q accepted", v)
		}
	}
	if err := CheckValue("nvapi-AbC_12.3-x/y+z="); err != nil {
		t.Error(err)
	}
}

// CheckLines gives the bound of the longest host's line, and never the value.
func TestCheckLinesLongestHostDecides(t *testing.T) {
	hosts := []string{"nvcr.io", "authn.nvidia.com"}
	fixed := len(Entry{Host: "authn.nvidia.com", Login: "$oauthtoken"}.Line())
	fits := secret.New(strings.Repeat("k", MaxLine-fixed))
	if err := CheckLines(hosts, "$oauthtoken", fits); err != nil {
		t.Fatalf("a value that fits the longest line: %v", err)
	}
	over := secret.New(strings.Repeat("k", MaxLine-fixed+1))
	err := CheckLines(hosts, "$oauthtoken", over)
	if err == nil || !strings.Contains(err.Error(), "netrc line for authn.nvidia.com would be 4096 bytes") ||
		!strings.Contains(err.Error(), fmt.Sprintf("at most %d bytes fit", MaxLine-fixed)) || strings.Contains(err.Error(), "kkkk") {
		t.Fatalf("one byte over: %v", err)
	}
}
