// Package pyxis builds the Pyxis SPANK plugin against the node's Slurm,
// installs it, wires it into Slurm's plugstack without racing other nodes on
// a shared /opt/slurm, and restarts slurmd when either changed.
package pyxis
