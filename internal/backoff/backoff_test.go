package backoff

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestExp(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := Exp(time.Second, 5*time.Second, i+1); got != w {
			t.Errorf("n=%d: %s, want %s", i+1, got, w)
		}
	}
	if got := Exp(30*time.Second, 15*time.Minute, 1000); got != 15*time.Minute {
		t.Fatalf("a long failure streak must stay at the cap: %s", got)
	}
}

func TestJitterBounds(t *testing.T) {
	for i := 0; i < 1000; i++ {
		d := time.Duration(rand.Int64N(int64(time.Minute)))
		lo := d / 2
		if got := Jitter(d, lo, rand.Int64N); got < lo || got > d {
			t.Fatalf("Jitter(%s, %s) = %s", d, lo, got)
		}
	}
	if Jitter(time.Second, 2*time.Second, rand.Int64N) != time.Second {
		t.Fatal("a delay below the floor must be kept")
	}
	if Jitter(10, 0, func(n int64) int64 { return n - 1 }) != 10 {
		t.Fatal("the top of the range must be reachable")
	}
}
