// Package netrc is the credentials file format enroot reads
// (${ENROOT_CONFIG_PATH}/.credentials): a netrc file in which enroot greps
// single-line "machine <host> login <login> password <password>" entries at
// column 0 and hands the file to curl.
//
// Parse never fails and Render gives back the input byte for byte, so the
// entries, comments, macros and line endings the agent does not own survive
// a rewrite; Merge puts the agent's entries first and drops only those the
// caller says it owns. MaxLine, CheckValue and CheckLine bound what may go
// on a line: curl silently ignores a longer one, and enroot runs a password
// starting with $ through the shell. Everything here is pure: the files
// themselves are read and written by package credentials.
package netrc
