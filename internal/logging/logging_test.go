package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
)

func TestFormats(t *testing.T) {
	cases := []struct {
		o          Options
		json, time bool
	}{
		{Options{Format: Auto}, true, true},
		{Options{Format: Auto, Terminal: true}, false, true},
		{Options{Format: Auto, Journal: true}, false, false},
		{Options{Format: JSON, Journal: true}, true, false},
		{Options{Format: Console}, false, true},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		log, err := New(zapcore.AddSync(&buf), c.o)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("hello")
		line := buf.String()
		var m map[string]any
		isJSON := json.Unmarshal([]byte(line), &m) == nil
		hasTime := strings.Contains(line, `"ts"`) || strings.HasPrefix(line, "20")
		if isJSON != c.json || hasTime != c.time {
			t.Errorf("%+v: %q (json=%v time=%v)", c.o, line, isJSON, hasTime)
		}
	}
	if _, err := New(zapcore.AddSync(&bytes.Buffer{}), Options{Format: "xml"}); err == nil {
		t.Fatal("xml accepted")
	}
}
