// Package images is the daemon's side of the shared image cache behind
// Pyxis's importer interface: the unix socket that job users reach, the
// verification of every digest a user names against its registry with the
// agent's own credentials, imports of verified manifests only (enroot reads
// them from a loopback front that serves the verified bytes and checks every
// blob), the store and its per-digest locks that work across the nodes
// sharing a cache directory, holds, eviction and prepull. The importer that
// Pyxis runs as the job's user is pkg/importer.
package images
