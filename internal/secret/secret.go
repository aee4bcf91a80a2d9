package secret

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"go.uber.org/zap/zapcore"
)

// Redacted is what every printing path shows instead of the value.
const Redacted = "[REDACTED]"

// Secret wraps a sensitive string. Its zero value is the empty secret. Every
// formatting interface the standard library and zap consult is implemented so
// that an accidental %v, %#v, json.Marshal or zap.Any prints Redacted.
type Secret struct{ value string }

// New wraps v.
func New(v string) Secret { return Secret{value: v} }

// Reveal returns the value; call it only where the value is written to its
// destination (a credentials file, an Authorization header).
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

// Equal compares two secrets without revealing them.
func (s Secret) Equal(o Secret) bool { return s.value == o.value }

// Fingerprint is a short, stable digest that lets two log lines be correlated
// without exposing the value: 8 hex characters cannot be reversed into a token.
func (s Secret) Fingerprint() string {
	if s.value == "" {
		return "empty"
	}
	sum := sha256.Sum256([]byte(s.value))
	return "sha256:" + hex.EncodeToString(sum[:4])
}

func (s Secret) String() string   { return Redacted }
func (s Secret) GoString() string { return Redacted }

// Format covers every fmt verb, including %x and %q, which would otherwise
// bypass String.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalText also covers encoding/json and YAML.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalLogObject keeps zap.Any and zap.Object from reflecting into the value.
func (s Secret) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("fingerprint", s.Fingerprint())
	return nil
}
