package pyxis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/flock"
	"github.com/enroot-agent/enroot-agent/internal/rootpath"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Shared is pyxis.shared_dir, a directory every node of the cluster mounts
// (the head node's /opt/slurm, or /fsx). The first node that needs a build
// for a BuildKey makes it there, under a lock every node shares, with a
// record of its sha256; every other node checks the record and the file
// and copies it instead of compiling:
//
//	<dir>/.<name>.lock            flock(2); NFSv4 arbitrates it between nodes
//	<dir>/<name>/spank_pyxis.so   the plugin, 0644 root
//	<dir>/<name>/build.json       SharedRecord, written last
//
// Nothing in it is trusted unless only root can change the path to it
// (internal/rootpath), and a build is used only when its record names this
// node's key and the plugin's size and sha256 are the record's. A build
// that fails any of that is refused: the node compiles its own, says so in
// its log and the pyxis-shared-build check, and puts its own build in the
// refused one's place when it can write there.
type Shared struct {
	Dir  string // host path (re-rooted)
	Host string // this node's name, recorded in the builds it publishes
	Log  *zap.Logger
	// Wait bounds how long a node waits for another node's build before
	// it compiles its own (0: defaultSharedWait).
	Wait time.Duration
}

const (
	sharedRecordName = "build.json"
	// Bounds of what is read from the shared directory: Pyxis's plugin is
	// under 100 KB, its record under 1 KB.
	maxSharedPlugin = 64 << 20
	maxSharedRecord = 64 << 10
	// defaultSharedWait: a Pyxis build takes seconds; a node that held the
	// lock for minutes is stuck, and a node that waited so long builds.
	defaultSharedWait = 5 * time.Minute
	// lockAttempt is how long one try for the lock waits before the node
	// looks again for the build the holder may have published meanwhile.
	lockAttempt = time.Second
)

// SharedRecord is build.json: what a shared build is, and who made it.
type SharedRecord struct {
	Key           BuildKey  `json:"key"`
	SlurmVersion  string    `json:"slurm_version"`  // the Slurm it was built against
	TarballSHA256 string    `json:"tarball_sha256"` // of the tarball that was built
	PluginSHA256  string    `json:"plugin_sha256"`
	PluginSize    int64     `json:"plugin_size"`
	Compiler      string    `json:"compiler,omitempty"` // first line of the builder's cc --version
	BuiltBy       string    `json:"built_by"`
	BuiltAt       time.Time `json:"built_at"`
}

var (
	// errSharedOff: the shared directory's parent does not exist (no
	// shared filesystem there): every node builds its own, quietly.
	errSharedOff = errors.New("no shared directory")
	// errNoBuild: nobody has published a build for this key yet.
	errNoBuild = errors.New("no shared build for this node yet")
	// errReadOnly: this node cannot write the shared directory (a
	// read-only or root-squashed mount): it builds for itself only.
	errReadOnly = errors.New("this node cannot write the shared directory")
)

// RefusedError is a shared directory or build this node must not use.
type RefusedError struct {
	Path      string
	Reason    string
	Untrusted bool // the directory itself: nothing is read from or written to it
}

func (e *RefusedError) Error() string { return e.Path + ": " + e.Reason }

// NewShared is cfg's shared directory under root, nil when sharing is off.
func NewShared(cfg config.Pyxis, root config.Root, log *zap.Logger) *Shared {
	if cfg.SharedDir == "" {
		return nil
	}
	host, _ := os.Hostname()
	return &Shared{Dir: root.Path(cfg.SharedDir), Host: host, Log: log}
}

// Entry is the directory of key's build.
func (s *Shared) Entry(key BuildKey) string { return filepath.Join(s.Dir, key.Name()) }

func (s *Shared) pluginPath(key BuildKey) string { return filepath.Join(s.Entry(key), PluginName) }

// usable says whether the directory can be used at all: errSharedOff
// without its parent, a RefusedError when someone besides root could change
// the path to key's build.
func (s *Shared) usable(key BuildKey) error {
	parent := filepath.Dir(s.Dir)
	if st, err := os.Stat(parent); err != nil || !st.IsDir() {
		return fmt.Errorf("%w: %s does not exist", errSharedOff, parent)
	}
	if err := rootpath.Check(s.Entry(key)); err != nil {
		return &RefusedError{Path: s.Dir, Untrusted: true, Reason: fmt.Sprintf("not used: %v, so someone besides root "+
			"could put their own plugin where every node would copy it from", err)}
	}
	return nil
}

// Look finds key's build and checks all but the plugin's digest: the
// record's key, and the plugin's presence and size. It is what a plan and
// the check need, and reads a few hundred bytes.
func (s *Shared) Look(key BuildKey) (SharedRecord, error) {
	var rec SharedRecord
	if err := s.usable(key); err != nil {
		return rec, err
	}
	path := filepath.Join(s.Entry(key), sharedRecordName)
	data, err := readRootFile(path, maxSharedRecord)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return rec, errNoBuild
	case err != nil:
		return rec, refused(path, err)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, &RefusedError{Path: path, Reason: "not a build record: " + err.Error()}
	}
	if rec.Key != key {
		return rec, &RefusedError{Path: path, Reason: fmt.Sprintf("records a build for %+v, not this node's %+v", rec.Key, key)}
	}
	if !isSHA256(rec.PluginSHA256) {
		return rec, &RefusedError{Path: path, Reason: fmt.Sprintf("plugin_sha256 %q is not a sha256 digest", rec.PluginSHA256)}
	}
	plugin := s.pluginPath(key)
	st, err := os.Lstat(plugin)
	switch {
	case err != nil:
		return rec, &RefusedError{Path: plugin, Reason: "missing, though its record is there: " + err.Error()}
	case !st.Mode().IsRegular():
		return rec, &RefusedError{Path: plugin, Reason: "not a regular file"}
	case st.Size() != rec.PluginSize:
		return rec, &RefusedError{Path: plugin, Reason: fmt.Sprintf("%d bytes, but its record says %d: altered since it was published", st.Size(), rec.PluginSize)}
	}
	return rec, nil
}

// Load is Look and the plugin itself, whose sha256 must be the record's.
func (s *Shared) Load(key BuildKey) ([]byte, SharedRecord, error) {
	rec, err := s.Look(key)
	if err != nil {
		return nil, rec, err
	}
	plugin := s.pluginPath(key)
	data, err := readRootFile(plugin, maxSharedPlugin)
	if err != nil {
		return nil, rec, refused(plugin, err)
	}
	if sum := sha256Hex(data); sum != rec.PluginSHA256 {
		return nil, rec, &RefusedError{Path: plugin, Reason: fmt.Sprintf("sha256 %s, but its record says %s: altered since it was published", sum, rec.PluginSHA256)}
	}
	return data, rec, nil
}

// Claim waits until this node may build key's plugin for every node, or
// until another node's build of it appears. It returns that build (and no
// unlock), or an unlock func when this node holds the lock and is to build
// and Publish (err then says why there is no usable build: errNoBuild, or
// a refused one to replace). errReadOnly: the node cannot write the
// directory; an error wrapping context.DeadlineExceeded: another node held
// the lock longer than Wait.
func (s *Shared) Claim(ctx context.Context, key BuildKey) (data []byte, rec SharedRecord, unlock func(), err error) {
	if err := s.usable(key); err != nil {
		return nil, rec, nil, err
	}
	if err := atomicfile.MkdirIfMissing(s.Dir); err != nil {
		return nil, rec, nil, writeError(s.Dir, err)
	}
	lock := filepath.Join(s.Dir, "."+key.Name()+".lock")
	wait := s.Wait
	if wait <= 0 {
		wait = defaultSharedWait
	}
	deadline := time.Now().Add(wait)
	for {
		try, cancel := context.WithTimeout(ctx, lockAttempt)
		unlock, err := flock.File(try, lock)
		cancel()
		if err == nil {
			data, rec, err := s.Load(key)
			if err == nil {
				unlock()
				return data, rec, nil, nil
			}
			return nil, rec, unlock, err
		}
		switch {
		case ctx.Err() != nil:
			return nil, rec, nil, ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded):
			return nil, rec, nil, writeError(lock, err)
		}
		// Another node holds the lock: its build may be there already.
		if data, rec, err := s.Load(key); err == nil {
			return data, rec, nil, nil
		}
		if time.Now().After(deadline) {
			return nil, rec, nil, fmt.Errorf("another node has held %s for %s without publishing a build: %w", lock, wait, context.DeadlineExceeded)
		}
	}
}

// Publish puts this node's build where the others find it: the plugin,
// then its record, each written atomically, so a reader sees a whole
// build or none (or, while a refused build is replaced, a plugin its
// record does not match, which it refuses).
func (s *Shared) Publish(key BuildKey, plugin []byte, rec SharedRecord) error {
	dir := s.Entry(key)
	if err := atomicfile.MkdirIfMissing(dir); err != nil {
		return writeError(dir, err)
	}
	rec.Key, rec.BuiltBy, rec.BuiltAt = key, s.Host, time.Now().UTC()
	rec.PluginSHA256, rec.PluginSize = sha256Hex(plugin), int64(len(plugin))
	record, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	opts := atomicfile.Options{Mode: 0o644, UID: -1, GID: 0}
	if _, err := atomicfile.Write(s.pluginPath(key), plugin, opts); err != nil {
		return writeError(dir, err)
	}
	if _, err := atomicfile.Write(filepath.Join(dir, sharedRecordName), append(record, '\n'), opts); err != nil {
		return writeError(dir, err)
	}
	return nil
}

// readRootFile reads at most max bytes of path, never through a symlink,
// and only when the open file is root's and writable by root alone.
func readRootFile(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := rootpath.CheckFile(f); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(data)) > max {
		err = fmt.Errorf("larger than %d bytes", max)
	}
	return data, err
}

func refused(path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &RefusedError{Path: path, Reason: "unreadable: " + err.Error()}
}

// writeError turns a refusal to write into errReadOnly: a compute node
// with /opt/slurm mounted read-only, or root squashed to nobody, reads
// the builds and builds for itself only.
func writeError(path string, err error) error {
	if errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w (%s: %v)", errReadOnly, path, err)
	}
	return err
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func isSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}
