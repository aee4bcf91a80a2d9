package slurm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/godbus/dbus/v5"
)

// SlurmdUnit is slurmd's systemd unit: restarted when the plugins it loads
// change.
const SlurmdUnit = "slurmd.service"

// UnitManager is the little of systemd the agent needs.
type UnitManager interface {
	// ActiveState is the unit's ActiveState: active, inactive, failed, ...
	ActiveState(ctx context.Context, unit string) (string, error)
	// Restart restarts the unit and waits for systemd's job to finish.
	Restart(ctx context.Context, unit string) error
	// Reload rereads unit files and drop-ins (systemctl daemon-reload).
	Reload(ctx context.Context) error
	Close()
}

// ErrNoSystemd means there is no system bus, or no systemd on it: a
// container, a chroot, an image build. Nothing can be restarted there.
var ErrNoSystemd = errors.New("no systemd on the system bus")

// ConnectSystemd connects to systemd over the system bus. The bus address
// comes from DBUS_SYSTEM_BUS_ADDRESS, else the standard socket.
func ConnectSystemd(ctx context.Context, jobTimeout time.Duration) (UnitManager, error) {
	conn, err := sddbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoSystemd, err)
	}
	return &systemdManager{conn: conn, timeout: jobTimeout}, nil
}

// DefaultConnect connects to systemd with a 2-minute job timeout.
func DefaultConnect(ctx context.Context) (UnitManager, error) {
	return ConnectSystemd(ctx, 2*time.Minute)
}

type systemdManager struct {
	conn    *sddbus.Conn
	timeout time.Duration
}

func (m *systemdManager) ActiveState(ctx context.Context, unit string) (string, error) {
	p, err := m.conn.GetUnitPropertyContext(ctx, unit, "ActiveState")
	if err != nil {
		return "", noSystemd(err)
	}
	s, ok := p.Value.Value().(string)
	if !ok {
		return "", fmt.Errorf("%s: ActiveState is %s, not a string", unit, p.Value)
	}
	return s, nil
}

// restartMode is the job mode of the restart: "ignore-dependencies". The
// agent's unit is ordered Before=slurmd.service, so with "replace" the start
// half of the restart waits for any start job of the agent itself: a
// restart asked for during the agent's own start (its first converge, the
// start after a package upgrade) waits for the agent, which waits for the
// restart, until the job timeout (seen on a real systemd node). The agent
// restarts only an active slurmd, whose dependencies are already up, so
// the ordering has nothing left to order.
const restartMode = "ignore-dependencies"

// Restart queues a restart job and waits for its result. The channel is
// buffered: go-systemd's dispatcher sends the result without waiting, and
// an unbuffered channel we stopped reading (timeout) would block it forever.
func (m *systemdManager) Restart(ctx context.Context, unit string) error {
	done := make(chan string, 1)
	if _, err := m.conn.RestartUnitContext(ctx, unit, restartMode, done); err != nil {
		return fmt.Errorf("restart %s: %w", unit, noSystemd(err))
	}
	timer := time.NewTimer(m.timeout)
	defer timer.Stop()
	select {
	case result := <-done:
		if result != "done" {
			return fmt.Errorf("restart %s: systemd job finished %q (see journalctl -u %s)", unit, result, unit)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("restart %s: no result from systemd after %s (see systemctl status %s)", unit, m.timeout, unit)
	case <-ctx.Done():
		return fmt.Errorf("restart %s: %w", unit, ctx.Err())
	}
}

func (m *systemdManager) Reload(ctx context.Context) error {
	if err := m.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("daemon-reload: %w", noSystemd(err))
	}
	return nil
}

func (m *systemdManager) Close() { m.conn.Close() }

// noSystemd marks the bus errors that mean "nobody is org.freedesktop.systemd1".
func noSystemd(err error) error {
	var name string
	var val dbus.Error
	var ptr *dbus.Error
	switch {
	case errors.As(err, &val):
		name = val.Name
	case errors.As(err, &ptr):
		name = ptr.Name
	}
	// A bus without systemd answers ServiceUnknown, or fails to activate the
	// name through its service file (Spawn.*).
	if strings.HasSuffix(name, ".ServiceUnknown") || strings.HasSuffix(name, ".NameHasNoOwner") || strings.Contains(name, ".Spawn.") {
		return fmt.Errorf("%w: %w", ErrNoSystemd, err)
	}
	return err
}

// unitDirs are systemd's system unit directories, highest priority first: a
// unit file in an earlier one hides the same name in later ones, and so does
// a drop-in file name.
var unitDirs = []string{"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system", "/lib/systemd/system"}

// DefaultPath is the PATH systemd gives a service that sets none (systemd's
// DEFAULT_PATH with /sbin and /bin, which merged-/usr systems link to /usr).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Unit is what a service's unit file and drop-ins say about its environment.
type Unit struct {
	File     string   // host path of the unit file
	DropIns  []string // host paths of its drop-ins, in the order systemd applies them
	EnvFiles []string // EnvironmentFile= paths in order ("-" dropped); later ones win
	// Env is the result of its Environment= lines, in order.
	Env map[string]string
}

// ReadUnit finds name's unit file and drop-ins as systemd would, and reads
// their [Service] environment. It returns false when no unit file exists.
func ReadUnit(root config.Root, name string) (Unit, bool, error) {
	u := Unit{Env: map[string]string{}}
	for _, d := range unitDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(root.Path(p)); err == nil {
			u.File = p
			break
		}
	}
	if u.File == "" {
		return u, false, nil
	}
	dropIns, err := dropIns(root, name)
	if err != nil {
		return u, true, err
	}
	for _, p := range append([]string{u.File}, dropIns...) {
		data, err := os.ReadFile(root.Path(p))
		if err != nil {
			return u, true, err
		}
		u.apply(string(data))
	}
	u.DropIns = dropIns
	return u, true, nil
}

// dropIns lists name.d/*.conf across unitDirs: one file per base name, the
// highest-priority directory's, ordered by base name.
func dropIns(root config.Root, name string) ([]string, error) {
	byName := map[string]string{}
	for i := len(unitDirs) - 1; i >= 0; i-- {
		dir := filepath.Join(unitDirs[i], name+".d")
		entries, err := os.ReadDir(root.Path(dir))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".conf") {
				byName[e.Name()] = filepath.Join(dir, e.Name())
			}
		}
	}
	var out []string
	for _, base := range slices.Sorted(func(yield func(string) bool) {
		for b := range byName {
			if !yield(b) {
				return
			}
		}
	}) {
		out = append(out, byName[base])
	}
	return out, nil
}

// apply reads one unit file's or drop-in's [Service] environment settings
// onto u. An empty assignment resets the list, as in systemd.
func (u *Unit) apply(text string) {
	section := ""
	for _, line := range unitLines(text) {
		if strings.HasPrefix(line, "[") {
			section = strings.TrimSpace(line)
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || section != "[Service]" {
			continue
		}
		val = strings.TrimSpace(val)
		switch strings.TrimSpace(key) {
		case "EnvironmentFile":
			if val == "" {
				u.EnvFiles = nil
			} else {
				u.EnvFiles = append(u.EnvFiles, strings.TrimPrefix(val, "-"))
			}
		case "Environment":
			if val == "" {
				u.Env = map[string]string{}
			}
			for _, w := range unquoteWords(val) {
				if k, v, ok := strings.Cut(w, "="); ok {
					u.Env[k] = v
				}
			}
		}
	}
}

// unitLines joins continued lines and drops comments and blanks.
func unitLines(text string) []string {
	var out []string
	cur := ""
	for _, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if cur == "" && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		out = append(out, cur+line)
		cur = ""
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// unquoteWords splits an Environment= value into assignments: words are
// separated by spaces, and a word may be quoted whole or in part.
func unquoteWords(s string) []string {
	var words []string
	var b strings.Builder
	quote, in := byte(0), false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0 && c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case quote != 0:
			b.WriteByte(c)
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, b.String())
				b.Reset()
				in = false
			}
		default:
			b.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, b.String())
	}
	return words
}

// EnvFileValue is key's value in an EnvironmentFile's text (the last
// assignment wins), with its quotes removed, and the line it is on (0-based).
func EnvFileValue(text, key string) (value string, line int, ok bool) {
	for i, raw := range strings.Split(text, "\n") {
		l := strings.TrimSpace(raw)
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		k, v, found := strings.Cut(l, "=")
		if !found || strings.TrimSpace(k) != key {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		value, line, ok = v, i, true
	}
	return value, line, ok
}

// ParseEnviron reads a /proc/<pid>/environ: NUL-separated KEY=VALUE.
func ParseEnviron(data []byte) map[string]string {
	env := map[string]string{}
	for _, kv := range strings.Split(string(data), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	return env
}

// PathHas reports whether the PATH value reaches dir.
func PathHas(path, dir string) bool {
	dir = filepath.Clean(dir)
	for _, d := range strings.Split(path, ":") {
		if d != "" && filepath.Clean(d) == dir {
			return true
		}
	}
	return false
}
