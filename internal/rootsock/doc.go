// Package rootsock is a unix socket between root processes: the server end
// accepts only root peers, and the client end trusts only a root server,
// both checked with SO_PEERCRED. A TCP port on loopback can be bound by any
// local user while the daemon restarts; this socket cannot be impersonated.
// ListenUnix is the plain socket under it, for servers that take other users
// and check each peer themselves (the image cache). RoundTrip is the client
// of a process that asks once and exits (the importer, verify): one HTTP
// request on a connection of its own, with no http.Client.
package rootsock
