// Package fake is the root of the stand-ins the tests, the demo and the
// cluster test bed run the agent against, one package per thing they stand
// for:
//
//	fake/aws         IMDSv2, ECR, ECR Public, STS, Secrets Manager and SSM,
//	                 S3, and a CONNECT proxy to AWS host names: small local
//	                 HTTP servers reached through the real aws-sdk-go-v2
//	fake/registry    Debian's real docker-registry with htpasswd and TLS,
//	                 image pushes, ECR's blob redirect to S3
//	fake/rendezvous  the program a multi-node job's ranks meet with, its
//	                 image and the reading of its output
//	fake/slurm       real munged, slurmctld and slurmd on 127.0.0.1
//	fake/systemd     systemd's D-Bus API on a real dbus-daemon; a
//	                 NOTIFY_SOCKET receiver
//	fake/host        a directory service through a real NSS module;
//	                 RDMA/EFA devices under a --root
//	fake/pkgrepo     real Enroot .deb/.rpm fixtures, sandbox roots with real
//	                 dpkg/rpm databases, repository stubs, the Pyxis fixture
//	                 tarball, an artifact server, the real upstream artifacts
//
// Each starts with Start<Thing>(...) (*Thing, error) and stops with Close.
// None imports testing: the demo is a program and links them. Tests use
// internal/testenv's Start<Thing>(t, ...), which fails the test when the
// fake cannot start and closes it when the test ends. The real chain (one
// real node on this machine) is internal/realchain; the systemd-nspawn
// cluster is internal/cluster.
//
// This package holds what they all need: where the module is, the go
// command, building the agent as it ships, and waiting for a condition.
package fake
