// Package slurm runs a real one-node Slurm on 127.0.0.1 (munged,
// slurmctld and slurmd with their own key, socket, ports and spool), so
// tests drain and resume a node and run srun with the real commands, and
// writes a minimal slurm.conf for commands that only load the plugstack.
// It is not a fake of Slurm: it is this machine's Slurm, started apart from
// any the host runs.
package slurm
