package atomicfile

import "os"

// MkdirIfMissing creates dir, world-readable and owned by root (parents
// too), only when it is missing. An existing directory is someone else's,
// the administrator's on a shared /opt/slurm perhaps: its mode and owner
// are left as they are.
func MkdirIfMissing(dir string) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	_, err := EnsureDir(dir, Options{Mode: 0o755, UID: -1, GID: -1})
	return err
}
