// Package imageref is how enroot names a registry image: the docker:// URI
// grammar Pyxis hands its importer, and the sha256 manifest digest that
// pins it. Both sides of the image cache read names through it: the
// importer that runs as the job's user (pkg/importer) and the daemon
// (pkg/images). It imports nothing but the standard library, and compiles
// no regular expression: the importer starts at every container start.
package imageref
