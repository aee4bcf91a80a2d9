// Package flock takes exclusive flock(2) locks whose wait a context bounds.
// A blocking flock cannot be cancelled, so the lock is polled, with a
// jittered backoff so that nodes waiting on a shared NFS lock do not poll in
// step. A lock belongs to the open file: it goes with the process, and a
// crash cannot leave it behind.
package flock
