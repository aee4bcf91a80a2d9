package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/enroot-agent/enroot-agent/internal/rootsock"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

// SocketPath is the daemon's root-only socket under its RuntimeDirectory.
// The CLI asks the daemon there, never on verify.listen: while the agent
// restarts, any local user can bind that TCP port and answer "ok" or
// "fail", and `verify --drain` runs as root.
const SocketPath = "/run/enroot-agent/verify.sock"

// FetchReport asks the daemon behind the root-only socket for its report.
// A socket served by anyone but root is refused.
func FetchReport(ctx context.Context, root config.Root) (verify.Report, error) {
	path := root.Path(SocketPath)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://enroot-agent/verify", nil)
	if err != nil {
		return verify.Report{}, err
	}
	resp, err := rootsock.HTTPClient(path).Do(req)
	if err != nil {
		return verify.Report{}, err
	}
	defer resp.Body.Close()
	var rep verify.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return verify.Report{}, fmt.Errorf("%s answered %s without a report: %w", path, resp.Status, err)
	}
	if len(rep.Results) == 0 {
		return verify.Report{}, fmt.Errorf("%s answered %s with no checks", path, resp.Status)
	}
	return rep, nil
}
