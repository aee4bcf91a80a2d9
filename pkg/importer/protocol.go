package importer

import (
	"strings"
	"time"
)

// The importer speaks HTTP/1.1 to the daemon over the unix socket, on
// versioned paths, so either side can change what a version means only by
// adding another:
//
//	POST /v1/get      Request{URI, Digest, Job, Step} → 200 and a stream of
//	                  Event lines (JSON, one per line): progress while the
//	                  daemon verifies, waits and imports, then one with Path
//	                  or Error; a request refused at once is a 4xx with one
//	                  Event{Error}
//	POST /v1/release  Request{Job, Step} → 200 {} or a 4xx Event{Error}
//
// Everything a user sends is bounded: MaxRequest bytes of body, headers
// within a few seconds, a cap on connections per uid.
const (
	// DefaultSocket is where the daemon serves importers (re-rooted by
	// --root).
	DefaultSocket = "/run/enroot-agent/images.sock"

	PathGet     = "/v1/get"
	PathRelease = "/v1/release"
	// MaxRequest bounds a request body; a request is a few hundred bytes.
	MaxRequest = 64 << 10
	// HeartbeatEvery is how often the daemon sends a progress line.
	HeartbeatEvery = 2 * time.Second
)

// Request is what the importer asks. Job and Step are the claims of the
// environment (SLURM_JOB_ID, SLURM_STEP_ID); the daemon believes them only
// when the process tree says so.
type Request struct {
	URI    string `json:"uri,omitempty"`
	Digest string `json:"digest,omitempty"`
	Job    string `json:"job"`
	Step   string `json:"step"`
}

// Event is one line of the answer to a get.
type Event struct {
	// State is what the daemon does: verifying, waiting (for another
	// import of the image), importing.
	State string `json:"state,omitempty"`
	// Progress grows while the work moves (bytes fetched and written, CPU
	// time of the import); it stands still when the work is stuck.
	Progress int64  `json:"progress,omitempty"`
	Path     string `json:"path,omitempty"`
	Error    string `json:"error,omitempty"`
}

// SlurmID says whether s can be a Slurm job or step id as the environment
// names it (digits, or batch, extern, interactive): it names files and
// holds, so nothing else is taken.
func SlurmID(s string) bool {
	return s != "" && len(s) < 32 && strings.Trim(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") == ""
}
