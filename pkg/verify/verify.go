// Package verify is the check framework: a check looks at the node without
// changing it and answers ok, fail or unknown, with what is wrong and how to
// fix it; RunAll evaluates checks concurrently under a deadline, and Cache
// shares one evaluation among concurrent callers. The checks themselves live
// in their domain packages beside the steps (install, pyxis, credentials);
// pkg/agent assembles the list, serves it, exports it and drains on it.
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
