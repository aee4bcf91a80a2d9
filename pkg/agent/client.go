package agent

import "github.com/enroot-agent/enroot-agent/pkg/verify"

// SocketPath is the daemon's root-only socket under its RuntimeDirectory,
// where the CLI and the front binary ask for the report (verify.Ask).
const SocketPath = verify.DaemonSocket
