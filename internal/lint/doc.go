// Package lint holds the repository's own static checks, run as tests with
// the rest (`go test ./internal/lint/`). globals_test.go parses every
// non-test .go file of the module and fails on a package-level variable
// that is mutable state: per-daemon state lives in a value the daemon
// builds once per config and holds (STYLE.md, issue 21), never in a
// package. The package has no code for others to import.
package lint
