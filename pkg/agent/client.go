package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
	"net"
	"net/http"
)

// FetchReport asks the running daemon at listen (verify.listen) for its report.
// A wildcard listen address is reached over loopback.
func FetchReport(ctx context.Context, listen string) (verify.Report, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return verify.Report{}, err
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/verify"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return verify.Report{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return verify.Report{}, err
	}
	defer resp.Body.Close()
	var rep verify.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return verify.Report{}, fmt.Errorf("%s answered %s without a report: %w", url, resp.Status, err)
	}
	if len(rep.Results) == 0 {
		return verify.Report{}, fmt.Errorf("%s answered %s with no checks", url, resp.Status)
	}
	return rep, nil
}
