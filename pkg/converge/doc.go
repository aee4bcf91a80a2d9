// Package converge runs the steps that bring a node to its desired state. A
// step can say whether its work is done, and why not, without changing
// anything; the same answer serves apply, apply --dry-run and verify.
//
// step.go is the Step interface and its Plan; runner.go runs a list of steps
// in order, with their requirements and the early downloads (Early);
// file.go holds the ready-made File and Dir steps.
package converge
