package agent

import (
	"context"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"go.uber.org/zap"
)

// Notifier tells the service manager about the daemon's state (sd_notify).
type Notifier interface {
	Notify(state string) error
}

// SystemdNotifier sends to $NOTIFY_SOCKET; without it (not under systemd)
// every call is a no-op.
type SystemdNotifier struct{}

func (SystemdNotifier) Notify(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}

// Refresher is what the daemon needs from the credentials refresher.
type Refresher interface {
	// Ensure refreshes only the tokens that are missing or due, so a
	// restart of the daemon does not call ECR when its tokens are fresh;
	// attempted says whether ECR was asked.
	Ensure(ctx context.Context) (attempted bool, err error)
	// Restore rewrites every credentials file from the tokens held, with
	// no ECR call, and returns the files it changed.
	Restore() ([]string, error)
	Start(ctx context.Context)
	Stop() context.Context
	Status() credentials.Status
}

// RefresherFactory builds a refresher for one config.
type RefresherFactory func(cfg config.Config, root config.Root, log *zap.Logger) (Refresher, error)

// NewCredentialsRefresher is the production factory.
func NewCredentialsRefresher(cfg config.Config, root config.Root, log *zap.Logger) (Refresher, error) {
	return credentials.NewRefresher(cfg, root, log)
}
