// Package node is the node under one config: New builds, once, the
// converge steps that make it up (state and cache directories, Enroot, its
// Slurm hooks, Pyxis), the checks verify shows (each step's own, then the
// credentials, Enroot, Pyxis and image cache checks) and the names of the
// checks a converge can repair. `apply` runs Steps, `verify` evaluates
// Checks, and the daemon (pkg/agent) holds one Node per config for both.
//
// What the steps and checks share between runs (srun's answer to
// --version, a pending slurmd restart already warned about) is held by the
// objects New builds, never by package-level state, so a reload, which
// builds a new Node, starts afresh.
//
// node.go builds the parts; checks.go turns a step into its check and
// names a report's root cause.
package node
