// Package agent is the daemon, `enroot-agent run`: one event loop that
// converges the node (pkg/node) at start, on SIGHUP and every
// converge.interval, keeps the ECR credentials fresh, evaluates the checks
// every verify.interval, repairs the drift a converge can fix, drains the
// node in Slurm while a check fails (and resumes only its own drain), and
// tells systemd how it goes (READY=1, STATUS=, WATCHDOG=1). What it shows
// the outside (/verify, /healthz, /metrics) is pkg/serve's.
//
// daemon.go is the loop and its lifecycle (start, reload, stop, the
// listeners, the image cache); work.go the converge and refresh workers
// and drift repair; checks.go the check loop and the drain; status.go the
// STATUS= line.
package agent
