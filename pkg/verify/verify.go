package verify

import (
	"context"
	"encoding/json"
	"fmt"
)

// Status is a check's verdict. Its numeric value is the exit code of
// `enroot-agent verify` (0 ok, 1 fail, 2 unknown), as node-problem-detector
// and Slurm's HealthCheckProgram expect.
type Status int

const (
	OK Status = iota
	Fail
	Unknown
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Fail:
		return "fail"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// MarshalJSON writes the status as "ok", "fail" or "unknown".
func (s Status) MarshalJSON() ([]byte, error) {
	if s < OK || s > Unknown {
		return nil, fmt.Errorf("verify: invalid status %d", int(s))
	}
	return json.Marshal(s.String())
}

// UnmarshalJSON reads what MarshalJSON wrote; the CLI reads the daemon's
// /verify this way.
func (s *Status) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return fmt.Errorf("verify: status: %w", err)
	}
	for _, st := range []Status{OK, Fail, Unknown} {
		if st.String() == name {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("verify: unknown status %q", name)
}

// Result is one check's answer. Message and Fix are shown to admins and
// served over HTTP: they must never hold a secret.
type Result struct {
	Name    string `json:"name"`
	Status  Status `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Check is one read-only look at the node.
type Check interface {
	// Name is short and stable: it appears in the drain reason and metrics.
	Name() string
	// Run must not change the node and should honour ctx's deadline.
	Run(ctx context.Context) Result
}

// Func adapts a function to Check.
type Func struct {
	CheckName string
	Fn        func(ctx context.Context) Result
}

func (f Func) Name() string { return f.CheckName }

// Run calls Fn and fills in the name when Fn left it empty.
func (f Func) Run(ctx context.Context) Result {
	r := f.Fn(ctx)
	if r.Name == "" {
		r.Name = f.CheckName
	}
	return r
}

// Ok, Failf and Unknownf build results tersely inside checks.
func Ok(msg string) Result { return Result{Status: OK, Message: msg} }

func Failf(fix, format string, args ...any) Result {
	return Result{Status: Fail, Message: fmt.Sprintf(format, args...), Fix: fix}
}

func Unknownf(fix, format string, args ...any) Result {
	return Result{Status: Unknown, Message: fmt.Sprintf(format, args...), Fix: fix}
}

// ApplyFix is the fix for whatever a converge repairs.
const ApplyFix = "run `enroot-agent apply` (the daemon retries on its own)"

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
