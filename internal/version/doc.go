// Package version reads and orders the dotted numeric release numbers of
// Enroot and Pyxis (4.1.2, 0.24.0): one comparator for the config's checks
// and the package step's "upgrade or downgrade".
package version
