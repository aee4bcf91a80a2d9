package imageref

import (
	"regexp"
	"strings"
	"testing"
)

// enroot's URI grammar as regular expressions, the form ParseURI had
// before it was written out byte by byte (issue 25: the importer compiled
// them at every start). grammarParse is ParseURI with them.
var (
	userRE   = regexp.MustCompile(`^[[:alnum:]_.!~*'()%;:&=+$,-]+@`)
	enrootRE = regexp.MustCompile(`^([^#/@]+)#([a-z0-9/._-]+)$`)
	dockerRE = regexp.MustCompile(`^(?:([^/#@]+)/)?([a-z0-9/._-]+)$`)
	tagRE    = regexp.MustCompile(`:[[:alnum:]._-]+$`)
	atDigest = regexp.MustCompile(`@sha256:[[:alnum:]]+$`)
	hostRE   = regexp.MustCompile(`^[a-zA-Z0-9.-]+(:[0-9]{1,5})?$`)
)

func grammarParse(uri string) (Image, bool) {
	if len(uri) > maxURI {
		return Image{}, false
	}
	rest, ok := strings.CutPrefix(uri, "docker://")
	if !ok && (strings.Contains(uri, "://") || !strings.Contains(uri, "#")) {
		return Image{}, false
	}
	rest = tagRE.ReplaceAllString(atDigest.ReplaceAllString(rest, ""), "")
	if m := userRE.FindString(rest); m != "" && strings.Count(rest, "@") == 1 {
		rest = rest[len(m):]
	}
	var im Image
	if m := enrootRE.FindStringSubmatch(rest); m != nil {
		im = Image{Registry: m[1], Sep: "#", Repo: m[2]}
	} else if m := dockerRE.FindStringSubmatch(rest); m != nil && m[2] != "" {
		im = dockerImage(m[1], m[2])
	} else {
		return Image{}, false
	}
	if im.Registry != "" && !hostRE.MatchString(im.Registry) {
		return Image{}, false
	}
	return im, true
}

// grammarSeeds are the corners of the grammar: each form, and each way a
// part can be one byte off.
var grammarSeeds = []string{
	"docker://ubuntu", "docker://ubuntu:24.04", "docker://library/ubuntu", "docker://nvidia/cuda:12.4.1-base",
	"docker://nvcr.io#nvidia/pytorch:24.01-py3", "docker://AWS@123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello",
	"docker://registry.example.com:5000/team/app:1.2", "docker://host:5000#a/b@sha256:" + strings.Repeat("ab", 32),
	"docker://a@b@c#x/y", "docker://@host#x/y", "docker://@h/x", "docker://a@b@c/x", "docker://user@host/x/y", "docker://u:p@host#x",
	"docker://host:123456#x", "docker://host:#x", "docker://:5000#x", "docker://host:5a#x", "docker://ho_st#x",
	"docker://Host.Example#x", "docker://h#X", "docker://h#x#y", "docker://h#", "docker://#x", "docker://h/#x",
	"docker://foo/", "docker:///bar", "docker://Foo/bar", "docker://foo/Bar", "docker://a/b/c:d@sha256:",
	"docker://x:tag:more", "docker://x@sha256:@sha256:ab", "docker://x:", "docker://x@sha256:ab:cd",
	"docker://a\nb#x", "docker://é#x", "docker://h#é", "docker://\xff#x", "reg#img:tag", "reg#img", "x://reg#img",
	"img", "docker://", "docker://a b#x/y", "docker://h:1#x", "docker://h:99999/x", "docker://h:0/x:y@sha256:z",
}

func TestParseURIIsTheGrammar(t *testing.T) {
	for _, uri := range grammarSeeds {
		checkGrammar(t, uri)
	}
}

// ParseURI accepts exactly what enroot's regular expressions accept, and
// reads the same image from it.
func FuzzParseURIIsTheGrammar(f *testing.F) {
	for _, uri := range grammarSeeds {
		f.Add(uri)
	}
	f.Fuzz(checkGrammar)
}

func checkGrammar(t *testing.T, uri string) {
	want, ok := grammarParse(uri)
	got, err := ParseURI(uri)
	if ok != (err == nil) || got != want {
		t.Errorf("%q: ParseURI %+v, %v; the grammar %+v, accepted %v", uri, got, err, want, ok)
	}
}
