// Package atomicfile is the only way the agent writes to the host: whole files
// replaced atomically, and directories created with exact modes, through a path
// walk that never follows a symlink an unprivileged user could have planted.
//
// write.go is Write and Matches with the temp-file protocol (and the sweep
// of temp files a crashed writer left); resolve.go the symlink-safe walk
// every operation opens its directory through; dir.go directories (EnsureDir,
// DirProblem); read.go bounded reads for files a user may write; adopt.go
// moving a file another user produced into place.
package atomicfile
