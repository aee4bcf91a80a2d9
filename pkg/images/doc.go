// Package images is the daemon's side of the shared image cache behind
// Pyxis's importer interface: the unix socket that job users reach, the
// verification of every digest a user names against its registry with the
// agent's own credentials, imports of verified manifests only (enroot reads
// them from a loopback front that serves the verified bytes and checks every
// blob), the store and its per-digest locks that work across the nodes
// sharing a cache directory, holds, eviction and prepull. The importer that
// Pyxis runs as the job's user is pkg/importer.
//
// It keeps about twenty files, one concept each, because they are one
// security boundary: every path from a user's request to a file served
// (server.go, authz.go, stepd.go, limits.go, handle.go) goes through the
// same Store (store.go, trust.go, lock.go, holds.go, space.go, work.go)
// and the same verified Registry and import (registry.go, transport.go,
// front.go, enroot.go), and splitting them into packages would export the very
// internals (a verified manifest, an unlocked store entry) that must not be
// reachable without the checks before them. cache.go ties them together;
// progress.go is what an importer sees of a long import; service.go,
// stats.go and checks.go are the daemon's view.
package images
