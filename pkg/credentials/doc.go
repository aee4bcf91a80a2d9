// Package credentials keeps registry credentials fresh in the netrc files
// every user's enroot reads: the shared ${ENROOT_CONFIG_PATH}/.credentials
// (0644 root:root, or 0640 root:<credentials.group>) and any
// credentials.files entry (the mode and owner it names).
//
// The Refresher holds one token per registry and writes it to every file:
// private ECR (one GetAuthorizationToken per region and role, each in an
// AWS helper process, sources.go; the node's own registry, when none is
// configured, read once per boot, noderegistry.go), ECR Public, and static
// secrets from Secrets Manager or SSM. It serves the
// last good token until it expires and never after (refresher.go), on a
// schedule whose slot comes from the node's address, pulled earlier by a
// retry after a failure or a token running low (schedule.go). The files are
// merged, never overwritten: lines the agent does not own stay (files.go,
// with the format in package netrc). What the last refresh did is recorded
// for verify, the metrics and the next process (status.go), and the checks
// read it back (checks.go), with an optional pull probe (package probe).
package credentials
