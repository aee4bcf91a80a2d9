package config

import "path/filepath"

// Root re-roots every host path the agent touches, so the real binary can run
// end to end inside a temp dir (tests, image builders, the demo). The config
// always holds host paths; only the code that opens a file maps it.
type Root string

// Path maps an absolute host path into the root. The path is cleaned as if
// the root were /, so no .. can climb out of it.
func (r Root) Path(hostPath string) string {
	if r == "" || r == "/" {
		return filepath.Clean(hostPath)
	}
	return filepath.Join(string(r), filepath.Clean("/"+hostPath))
}
