// Package install puts Enroot on a node and configures it: the distribution's
// package manager for Enroot's prerequisites, the upstream Enroot packages at
// the configured version (fetched and verified by pkg/artifact), the kernel
// settings Enroot needs, and /etc/enroot/enroot.conf. Each piece is a
// converge.Step, so apply, apply --dry-run and verify share one answer.
//
//   - steps.go: the steps in order, and the Node (root, platform, package
//     manager) they share;
//   - distro.go: which distribution and package world the node is;
//   - pkgmgr.go: the PackageManager interface and its two implementations,
//     dpkg/apt (with dpkg's status file read without a process) and rpm/dnf/yum;
//   - packages.go: the enroot-packages step: which release files, whether the
//     installed ones are stale or broken, installing them, the version policy
//     and the install record;
//   - deps.go and debversion.go: what the downloaded packages declare that the
//     node lacks, and Debian's relation and version grammar for it;
//   - prereqs.go, sysctl.go, dirs.go, conf.go: the prerequisites, the
//     namespace sysctls, the shared directories enroot.conf names (and the
//     per-user ones a user squats), and enroot.conf itself;
//   - checks.go: the enroot checks of verify, with the packages' health.
package install
