package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
)

// RecordFile is the name of the install record in the state dir.
const RecordFile = "enroot-packages.json"

// Record remembers how the installed Enroot was verified, so `verify` can
// report an unpinned install long after the download.
type Record struct {
	Version string       `json:"version"`
	Files   []FileRecord `json:"files"`
}

// FileRecord is one installed release file.
type FileRecord struct {
	Name     string `json:"name"`
	SHA256   string `json:"sha256"`
	PinnedBy string `json:"pinned_by"` // config, SHA256SUMS, or "" (unpinned)
}

// Unpinned lists the files no digest vouched for.
func (r Record) Unpinned() []string {
	var names []string
	for _, f := range r.Files {
		if f.PinnedBy == "" {
			names = append(names, f.Name)
		}
	}
	return names
}

// WriteRecord stores r at path (root-only, like the state dir).
func WriteRecord(path string, r Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = atomicfile.Write(path, append(data, '\n'), atomicfile.Options{Mode: 0o600, UID: -1, GID: -1})
	return err
}

// ReadRecord loads the record; ok is false when there is none yet.
func ReadRecord(path string) (Record, bool, error) {
	var r Record
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, false, fmt.Errorf("%s: %w", path, err)
	}
	return r, true, nil
}
