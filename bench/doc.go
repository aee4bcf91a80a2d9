// Package bench holds the benchmarks that BENCHMARKS.md reports: the real
// binary and the real credentials code against the local stand-ins of
// internal/fake. `make bench` runs them and prints the table
// (bench/table). They are Benchmark functions only, so `go test ./...`
// never runs them.
package bench
