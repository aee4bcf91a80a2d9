package testenv

import (
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/fake/host"
	"github.com/enroot-agent/enroot-agent/internal/fake/registry"
	"github.com/enroot-agent/enroot-agent/internal/fake/slurm"
	"github.com/enroot-agent/enroot-agent/internal/fake/systemd"
)

// The fakes' constructors for tests. Each is the fake package's
// Start<Thing>(...) (*Thing, error): it fails the test (never skips) when
// the fake cannot start, and stops the fake when the test ends.

// started fails t on err and closes v when t ends.
func started[T interface{ Close() }](t testing.TB, v T, err error) T {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// StartIMDS is aws.StartIMDS.
func StartIMDS(t testing.TB, account, region string) *aws.IMDS {
	t.Helper()
	m, err := aws.StartIMDS(account, region)
	return started(t, m, err)
}

// StartECR is aws.StartECR.
func StartECR(t testing.TB) *aws.ECR {
	t.Helper()
	e, err := aws.StartECR()
	return started(t, e, err)
}

// StartECRPublic is aws.StartECRPublic.
func StartECRPublic(t testing.TB, password string) *aws.ECRPublic {
	t.Helper()
	e, err := aws.StartECRPublic(password)
	return started(t, e, err)
}

// StartSTS is aws.StartSTS.
func StartSTS(t testing.TB, roles map[string]string) *aws.STS {
	t.Helper()
	s, err := aws.StartSTS(roles)
	return started(t, s, err)
}

// StartSecretStore is aws.StartSecretStore.
func StartSecretStore(t testing.TB) *aws.SecretStore {
	t.Helper()
	s, err := aws.StartSecretStore()
	return started(t, s, err)
}

// StartS3Server is aws.StartS3Server.
func StartS3Server(t testing.TB) *aws.S3Server {
	t.Helper()
	s, err := aws.StartS3Server()
	return started(t, s, err)
}

// StartConnectProxy is aws.StartConnectProxy.
func StartConnectProxy(t testing.TB, routes map[string]string) *aws.ConnectProxy {
	t.Helper()
	p, err := aws.StartConnectProxy(routes)
	return started(t, p, err)
}

// StartRegistry is registry.Start in a directory of the test's.
func StartRegistry(t testing.TB, names []string, password string) *registry.Registry {
	t.Helper()
	r, err := registry.Start(t.TempDir(), names, password)
	return started(t, r, err)
}

// StartBlobRedirect is registry.StartBlobRedirect.
func StartBlobRedirect(t testing.TB, reg *registry.Registry, password string) *registry.BlobRedirect {
	t.Helper()
	b, err := registry.StartBlobRedirect(reg, password)
	return started(t, b, err)
}

// StartSlurm is slurm.Start for a node called ea-node1, and waits until the
// node is up.
func StartSlurm(t testing.TB) *slurm.Slurm {
	t.Helper()
	s, err := slurm.Start("ea-node1")
	s = started(t, s, err)
	if err := s.WaitNode(60 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, s.Logs())
	}
	return s
}

// StartSystemdStub is systemd.StartStub in a directory of the test's.
func StartSystemdStub(t testing.TB) *systemd.Stub {
	t.Helper()
	s, err := systemd.StartStub(t.TempDir())
	return started(t, s, err)
}

// StartNotifySocket is systemd.StartNotifySocket.
func StartNotifySocket(t testing.TB) *systemd.NotifySocket {
	t.Helper()
	n, err := systemd.StartNotifySocket()
	return started(t, n, err)
}

// StartDirectory is host.StartDirectory; a failure to put the host's NSS
// back fails the test.
func StartDirectory(t testing.TB, users []host.DirUser, groups []host.DirGroup) *host.Directory {
	t.Helper()
	d, err := host.StartDirectory(users, groups)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}
