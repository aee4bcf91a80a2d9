package lazyre

import (
	"regexp"
	"sync"
	"testing"
)

var declared = New(`^(\d+)\.(\d+)$`)

func TestCompiledOnFirstUseOnly(t *testing.T) {
	if declared.re != nil {
		t.Fatal("compiled before its first use")
	}
	var wg sync.WaitGroup
	got := make([]*regexp.Regexp, 8)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = declared.Regexp() }()
	}
	wg.Wait()
	for _, re := range got {
		if re != got[0] || re == nil {
			t.Fatalf("compiled more than once, or not at all: %p %p", re, got[0])
		}
	}
}

// The forwarded methods answer as the compiled expression does.
func TestMethodsAreTheRegexps(t *testing.T) {
	r, re := New(`a(b+)`), regexp.MustCompile(`a(b+)`)
	for _, s := range []string{"", "ab", "xabbbx", "ba", "abab"} {
		if r.MatchString(s) != re.MatchString(s) || r.FindString(s) != re.FindString(s) ||
			len(r.FindStringSubmatch(s)) != len(re.FindStringSubmatch(s)) ||
			r.ReplaceAllString(s, "<$1>") != re.ReplaceAllString(s, "<$1>") {
			t.Errorf("%q: lazy and compiled differ", s)
		}
	}
	if r.String() != re.String() {
		t.Errorf("String %q, want %q", r.String(), re.String())
	}
}

func TestBadExpressionPanicsAtFirstUse(t *testing.T) {
	r := New(`(`)
	defer func() {
		if recover() == nil {
			t.Error("a bad expression compiled")
		}
	}()
	r.MatchString("x")
}
