package verify

import (
	"context"
	"fmt"
	"sync"
)

// RunAll runs every check concurrently and returns the results in the
// checks' order. A check that panics is reported as unknown rather than
// taking the daemon down with it.
func RunAll(ctx context.Context, checks []Check) []Result {
	out := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = runOne(ctx, c)
		}()
	}
	wg.Wait()
	return out
}

func runOne(ctx context.Context, c Check) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			r = Unknownf("report this as a bug in enroot-agent", "check crashed: %v", p)
			r.Name = c.Name()
		}
	}()
	r = c.Run(ctx)
	if r.Name == "" {
		r.Name = c.Name()
	}
	return r
}

// Overall is the worst status: any fail is a fail, else any unknown is
// unknown. No checks at all is unknown: health must not be assumed.
func Overall(results []Result) Status {
	if len(results) == 0 {
		return Unknown
	}
	worst := OK
	for _, r := range results {
		switch {
		case r.Status == Fail:
			return Fail
		case r.Status == Unknown:
			worst = Unknown
		case r.Status != OK:
			worst = Unknown
		}
	}
	return worst
}

// FirstFailing names the first failing check (else the first unknown), for
// a drain reason or a STATUS line; "" when every check is ok.
func FirstFailing(results []Result) string {
	for _, want := range []Status{Fail, Unknown} {
		for _, r := range results {
			if r.Status == want {
				return r.Name
			}
		}
	}
	return ""
}

// String is one line for logs.
func (r Result) String() string {
	return fmt.Sprintf("%s %s: %s", r.Name, r.Status, r.Message)
}
