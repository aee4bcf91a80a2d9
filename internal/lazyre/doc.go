// Package lazyre is a regular expression compiled on its first use. Each
// process of the agent pays every package initialiser before main runs (the
// front at every container start of every job, issue 25), and
// regexp.MustCompile in a package-level var is such work: 50 allocations
// for the smallest expression, hundreds for a grammar. lazyre.New costs
// nothing at init (the compiler lays the value out in the binary, no
// sync.OnceValue closure either), so a package keeps its expressions beside
// the code that reads them and pays for one only when it runs.
package lazyre
