// Package importer is what Pyxis runs as the job's user (images.importer,
// `enroot-agent get URI` and `enroot-agent release`): it resolves the image
// with `enroot digest` under the user's own credentials, asks the agent's
// image cache over its unix socket (HTTP/1.0 on versioned paths, one JSON
// line of progress at a time; protocol.go is the wire format, which the
// daemon in pkg/images serves), prints the squashfs path the daemon
// answers, and falls back to the user's own `enroot import` whenever the
// cache cannot serve or does not move within its bounds, so a cache problem
// never fails or stalls a job.
//
// It starts like a small tool: it imports the standard library, the
// unix-socket helper and the image-name grammar, nothing heavier (no AWS
// SDK, no Prometheus, no zap, no go-containerregistry); a test holds it to
// that.
package importer
