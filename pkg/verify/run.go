package verify

import (
	"context"
	"fmt"
)

// RunAll runs every check concurrently and returns the results in the
// checks' order. A check still running when ctx ends is reported unknown
// (a stat on a hung NFS /opt/slurm never returns, and must not wedge every
// later probe); a check that panics is reported unknown too.
func RunAll(ctx context.Context, checks []Check) []Result {
	type done struct {
		i int
		r Result
	}
	ch := make(chan done, len(checks))
	for i, c := range checks {
		go func() { ch <- done{i, runOne(ctx, c)} }()
	}
	out := make([]Result, len(checks))
	finished := make([]bool, len(checks))
	for n := 0; n < len(checks); n++ {
		select {
		case d := <-ch:
			out[d.i], finished[d.i] = d.r, true
		case <-ctx.Done():
			for i, c := range checks {
				if !finished[i] {
					out[i] = Unknownf("look for a hung mount or command on the node", "check did not finish: %v", ctx.Err())
					out[i].Name = c.Name()
				}
			}
			return out
		}
	}
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
		case r.Status != OK:
			worst = Unknown
		}
	}
	return worst
}

// String is one line for logs.
func (r Result) String() string {
	return fmt.Sprintf("%s %s: %s", r.Name, r.Status, r.Message)
}
