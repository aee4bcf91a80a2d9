package verify

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/enroot-agent/enroot-agent/internal/rootsock"
)

// DaemonSocket is the daemon's root-only socket under its RuntimeDirectory.
// The CLI asks the daemon there, never on verify.listen: while the agent
// restarts, any local user can bind that TCP port and answer "ok" or
// "fail", and `verify --drain` runs as root.
const DaemonSocket = "/run/enroot-agent/verify.sock"

// Ask asks the daemon serving socket (DaemonSocket under --root) for its
// report. A socket served by anyone but root is refused, and so is an
// answer without checks. It lives here, beside Report, so that the small
// front binary can ask without linking the agent; one request on a
// connection of its own (rootsock.RoundTrip), as a health check makes one.
func Ask(ctx context.Context, socket string) (Report, error) {
	resp, err := rootsock.RoundTrip(ctx, socket, rootsock.Request{Method: "GET", Path: "/verify"}, 0)
	if err != nil {
		return Report{}, err
	}
	defer resp.Body.Close()
	var rep Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return Report{}, fmt.Errorf("%s answered %s without a report: %w", socket, resp.Status, err)
	}
	if len(rep.Results) == 0 {
		return Report{}, fmt.Errorf("%s answered %s with no checks", socket, resp.Status)
	}
	return rep, nil
}
