package agent

import (
	"context"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// SocketPath is the daemon's root-only socket under its RuntimeDirectory
// (verify.DaemonSocket, where the CLI and the front binary ask).
const SocketPath = verify.DaemonSocket

// FetchReport asks the daemon behind the root-only socket for its report.
// A socket served by anyone but root is refused.
func FetchReport(ctx context.Context, root config.Root) (verify.Report, error) {
	return verify.Ask(ctx, root.Path(SocketPath))
}
