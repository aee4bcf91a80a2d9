package credentials

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/secret"
	"go.uber.org/zap"
)

// Restore puts back a deleted or damaged file from the tokens held, with no
// call to ECR, logs what it changed besides the content (mode, group,
// creation) without the token, and never writes back an expired token.
func TestRestoreFromHeldTokens(t *testing.T) {
	r, src, clk, logs, file := fixture(t, "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\n")
	src.answer = func(string) (Token, error) {
		return Token{Password: secret.New("HELDTOKEN"), ExpiresAt: clk.now.Add(3 * time.Hour)}, nil
	}
	if err := r.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	good := read(t, file)
	restore := func(want string) {
		t.Helper()
		changed, err := r.Restore()
		if err != nil || len(changed) != 1 || changed[0] != file {
			t.Fatalf("Restore: %v, %v", changed, err)
		}
		if got := read(t, file); got != good {
			t.Fatalf("restored file %q, want %q", got, good)
		}
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("no %q in the log:\n%s", want, logs)
		}
	}

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	restore(`"changes":"created (it was missing)"`)

	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	restore(`"changes":"mode 0600 -> 0644"`)

	if err := os.Chown(file, -1, 100); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	restore(`"changes":"group 100 -> 0, directory mode 0700 -> 0755"`)

	// A line that is there is never changed: another writer put it there
	// (the repair converge's full rewrite deals with a line edited by hand).
	stale := "machine 111122223333.dkr.ecr.us-east-1.amazonaws.com login AWS password STALE\n"
	if err := os.WriteFile(file, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err := r.Restore(); err != nil || len(changed) != 0 || read(t, file) != stale {
		t.Fatalf("Restore changed a line that was there: %v %v %q", changed, err, read(t, file))
	}
	if err := os.WriteFile(file, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := src.calls["us-east-1"]; n != 1 {
		t.Fatalf("%d ECR calls, want the first refresh's only", n)
	}

	// `enroot-agent refresh` in another process writes a newer token and
	// records it; the file is then deleted: the daemon restores the newer
	// token, which the recorded status still vouches for.
	other, err := NewRefresher(r.cfg, r.root, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	otherSrc := &scripted{calls: map[string]int{}}
	other.Source, other.Now, other.Rand = otherSrc, clk.Now, seeded()
	otherSrc.answer = func(string) (Token, error) {
		return Token{Password: secret.New("NEWERTOKEN"), ExpiresAt: clk.now.Add(12 * time.Hour)}, nil
	}
	if err := other.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	newer := read(t, file)
	if _, err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Restore(); err != nil || read(t, file) != newer {
		t.Fatalf("after another process's refresh and a deletion: %q, %v; want %q", read(t, file), err, newer)
	}
	st, err := ReadStatus(r.statePath)
	if err != nil || st.Registries[0].Fingerprint != secret.New("NEWERTOKEN").Fingerprint() {
		t.Fatalf("the recorded status does not vouch for the restored token: %+v %v", st, err)
	}

	clk.Advance(12 * time.Hour) // past every token's expiry
	if _, err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, file); strings.Contains(got, "TOKEN") {
		t.Fatalf("an expired token was written back: %q", got)
	}
	noSecret(t, logs.String(), "HELDTOKEN", "NEWERTOKEN", "STALE")
}
