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
	NextRefresh  time.Time
	Successes    uint64
	Failures     uint64
}

// RegistryStatus is what is known about one registry's token, without the token.
type RegistryStatus struct {
	Host        string
	ExpiresAt   time.Time // zero when no valid token is held
	Fingerprint string    // secret.Secret.Fingerprint() of the token held
}
