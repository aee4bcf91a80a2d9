// Package accel makes containers fit for multi-node accelerated jobs: the
// Enroot hooks that hand a job's ranks their Slurm and PyTorch rendezvous
// variables, the EFA and NVIDIA devices a container must see, and the checks
// that prove it on the node. Device detection reads a re-rootable /dev,
// /sys and /proc and parses literal command output, so it is tested on fake
// trees; what needs hardware runs only where the hardware is.
package accel
