package logging

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Formats accepted by --log-format.
const (
	Auto    = "auto"
	Console = "console"
	JSON    = "json"
)

// Options choose the encoding. Journal is true when stderr is connected to
// journald (journal.StderrIsJournalStream), which stamps every line itself.
type Options struct {
	Format   string
	Journal  bool
	Terminal bool
	Debug    bool
}

// New returns a logger on w built from zap's production config: JSON for
// machines, console for people at a terminal, and no timestamp under
// journald, which adds its own.
func New(w zapcore.WriteSyncer, o Options) (*zap.Logger, error) {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	if o.Journal {
		enc.TimeKey = zapcore.OmitKey
	}
	format := o.Format
	if format == Auto || format == "" {
		format = JSON
		if o.Journal || o.Terminal {
			format = Console
		}
	}
	var encoder zapcore.Encoder
	switch format {
	case JSON:
		encoder = zapcore.NewJSONEncoder(enc)
	case Console:
		encoder = zapcore.NewConsoleEncoder(enc)
	default:
		return nil, fmt.Errorf("--log-format %q is not auto, console or json", o.Format)
	}
	level := zap.InfoLevel
	if o.Debug {
		level = zap.DebugLevel
	}
	return zap.New(zapcore.NewCore(encoder, w, level), zap.ErrorOutput(w)), nil
}

// IsTerminal reports whether f is a character device, such as a tty.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
