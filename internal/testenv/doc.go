// Package testenv holds what tests share that takes a testing.TB: writing
// a fixture or failing (WriteFile, MkdirAll), a root-only directory, file
// snapshots, the agent binary built once per test process (Binary), and
// the test form of every fake's constructor: StartECR(t) is
// aws.StartECR() that fails the test instead of returning an error and is
// stopped when the test ends.
//
// The fakes themselves live in internal/fake/... and the real-chain harness
// in internal/realchain; neither imports testing, so the demo (a program)
// can link them. Nothing but tests imports this package.
package testenv
