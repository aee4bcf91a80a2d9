// Package slurm is everything the agent knows about the node's Slurm, in one
// place for the Pyxis steps and the daemon:
//
//   - conf.go: Slurm's config files: IncludeWalker, the one walk of include
//     lines (glob(3) as Slurm uses it, bounded), for slurm.conf (ReadConf,
//     SlurmConfPath) here and for plugstack.conf in pkg/pyxis;
//   - version.go: the running release and its headers (Detector, which
//     keeps srun's answer for as long as the daemon's config runs);
//   - slurmd.go: the running slurmd (its start time and environment, read
//     from /proc with procfs) and the step that keeps Slurm's bin on its PATH;
//   - systemd.go: slurmd's unit files and drop-ins, and restarting it over
//     D-Bus;
//   - scontrol.go: this node as slurmctld sees it: its name, its state, drain
//     and resume.
package slurm
