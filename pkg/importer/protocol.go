package importer

import (
	"strings"
	"time"
)

// The importer speaks HTTP/1.0 to the daemon over the unix socket, on
// versioned paths, so either side can change what a version means only by
// adding another:
//
//	POST /v1/get      Request{URI, Digest, Job, Step} → 200 and a stream of
//	                  Event lines (JSON, one per line): progress while the
//	                  daemon verifies, waits and imports, then one with Path
//	                  or Error; a request refused at once is a 4xx with one
//	                  Event{Error}
//	POST /v2/get      the same answer; the body is Request{URI, Job, Step}
//	                  on one line, then the digest on a line of its own
//	                  (DigestLine bytes), sent when the user's enroot digest
//	                  has answered. The daemon admits the step and reads the
//	                  manifest the URI names meanwhile, so a hit costs the
//	                  longer of the two rather than their sum. A daemon that
//	                  does not answer it (one older than its importer) is
//	                  asked /v1/get.
//	POST /v1/release  Request{Job, Step} → 200 {} or a 4xx Event{Error}
//
// Everything a user sends is bounded: MaxRequest bytes of body, headers
// within a few seconds, the digest line within DigestWithin, a cap on
// connections per uid.
const (
	// DefaultSocket is where the daemon serves importers (re-rooted by
	// --root).
	DefaultSocket = "/run/enroot-agent/images.sock"

	PathGet     = "/v1/get"
	PathGetV2   = "/v2/get"
	PathRelease = "/v1/release"
	// DigestLine is the length of /v2/get's digest line: sha256: and 64
	// hex digits, then a newline.
	DigestLine = len("sha256:") + 64 + 1
	// DigestWithin bounds the wait for /v2/get's digest line. An importer
	// whose enroot digest is slower asks /v1/get once it has the digest.
	DigestWithin = 30 * time.Second
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
