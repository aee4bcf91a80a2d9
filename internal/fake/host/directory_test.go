package host

import "testing"

func TestWithExtrausers(t *testing.T) {
	in := "# comment\npasswd:         files systemd\ngroup:          files\nshadow:         files\nhosts: files dns\n"
	want := "# comment\npasswd:         files systemd extrausers\ngroup:          files extrausers\nshadow:         files\nhosts: files dns\n"
	got, err := WithExtrausers(in)
	if err != nil || got != want {
		t.Fatalf("got %q, %v", got, err)
	}
	if again, _ := WithExtrausers(got); again != got {
		t.Fatalf("twice: %q", again)
	}
	if _, err := WithExtrausers("hosts: files\n"); err == nil {
		t.Fatal("no passwd line: accepted")
	}
}
