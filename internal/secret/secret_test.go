package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const token = "eyJwYXlsb2FkIjoiVE9QU0VDUkVUIn0"

func TestSecretNeverPrints(t *testing.T) {
	s := New(token)
	wrapped := struct {
		Name  string
		Token Secret
		Ptr   *Secret
	}{"x", s, &s}
	js, err := json.Marshal(wrapped)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":    fmt.Sprintf("%v", s),
		"%+v":   fmt.Sprintf("%+v", wrapped),
		"%#v":   fmt.Sprintf("%#v", wrapped),
		"%s":    fmt.Sprintf("%s", s),
		"%q":    fmt.Sprintf("%q", s),
		"%x":    fmt.Sprintf("%x", s),
		"error": fmt.Errorf("refresh: %v", s).Error(),
		"wrap":  fmt.Errorf("outer: %w", errors.New(fmt.Sprint(s))).Error(),
		"json":  string(js),
		"zap":   zapOutput(s),
	}
	for name, out := range outputs {
		if strings.Contains(out, token) || strings.Contains(out, token[:12]) {
			t.Errorf("%s leaked the secret: %s", name, out)
		}
		if !strings.Contains(out, Redacted) && name != "zap" {
			t.Errorf("%s = %q, want %q in it", name, out, Redacted)
		}
	}
	if s.Reveal() != token {
		t.Fatalf("Reveal lost the value")
	}
}

func zapOutput(s Secret) string {
	var buf bytes.Buffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zap.DebugLevel)
	log := zap.New(core)
	log.Info("token", zap.Any("any", s), zap.Object("obj", s), zap.Stringer("str", s), zap.Reflect("refl", s))
	_ = log.Sync()
	return buf.String()
}

func TestFingerprint(t *testing.T) {
	a, b := New("one"), New("two")
	if a.Fingerprint() == b.Fingerprint() {
		t.Fatal("different secrets share a fingerprint")
	}
	if a.Fingerprint() != New("one").Fingerprint() {
		t.Fatal("fingerprint is not stable")
	}
	if !strings.HasPrefix(a.Fingerprint(), "sha256:") || len(a.Fingerprint()) != len("sha256:")+8 {
		t.Fatalf("fingerprint %q has the wrong shape", a.Fingerprint())
	}
	if New("").Fingerprint() != "empty" {
		t.Fatal("empty secret fingerprint")
	}
}
