// Package credentials keeps ECR registry credentials fresh in the netrc files
// every user's enroot reads.
package credentials

import "time"

// Status is a snapshot for systemd STATUS=, verify and metrics. It holds no secret.
type Status struct {
	Registries   []RegistryStatus
	LastAttempt  time.Time
	LastSuccess  time.Time
	LastError    string    // free of secrets; "" when the last attempt succeeded
	FailingSince time.Time // zero when healthy
	// ConsecutiveFailures counts the failed refreshes since FailingSince.
	ConsecutiveFailures int `json:",omitempty"`
	NextRefresh         time.Time
	// Refreshes by this process: Prometheus counters start at 0 with the
	// process, so they are neither recorded nor resumed.
	Successes uint64 `json:"-"`
	Failures  uint64 `json:"-"`
}

// RegistryStatus is what is known about one registry's token, without the token.
type RegistryStatus struct {
	Host        string
	ExpiresAt   time.Time // zero when no valid token is held
	Fingerprint string    // secret.Secret.Fingerprint() of the token held
}
