// Package userdb is the one way the agent asks who a user or group is: the
// node's NSS, as every other program on it sees it (/etc/passwd and
// /etc/group, SSSD for ParallelCluster's DirectoryService, LDAP, winbind…).
//
// The shipped binary is static (cgo off), so Go's os/user reads only
// /etc/passwd and /etc/group and never sees a directory user; a cgo build
// would link the build host's glibc and no longer run on Amazon Linux 2
// (glibc 2.26) or RHEL 8 (2.28). So the agent runs glibc's own getent, which
// every glibc node has (libc-bin, glibc-common) and which loads whatever NSS
// modules nsswitch.conf names, with a deadline, and parses its output with
// the pure parsers of parse.go. Answers are kept for a short while, so a
// busy image cache does not start a process per request.
package userdb
