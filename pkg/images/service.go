package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/userdb"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"github.com/enroot-agent/enroot-agent/pkg/importer"
	"go.uber.org/zap"
)

// Service is the daemon's image cache: the socket, the upkeep of holds and
// size, and the prepull schedule.
type Service struct {
	Cache  *Cache
	server *Server
	stop   chan struct{}
	wg     sync.WaitGroup
}

// maintainEvery is how often holds are renewed (or expired) and the size
// bound enforced besides after each import.
const maintainEvery = time.Minute

// Start prepares the directory, binds the socket and starts the upkeep.
func Start(c config.Config, root config.Root, node string, stats *Stats, log *zap.Logger) (*Service, error) {
	im := c.Images
	netrc := ""
	if c.Credentials.EnrootConfigPath != "" {
		netrc = filepath.Join(root.Path(c.Credentials.EnrootConfigPath), ".credentials")
	}
	transport, err := newTransport(c.Enroot.Conf)
	if err != nil {
		return nil, err
	}
	users := &userdb.DB{} // the import user's and credentials.group's lookups, kept a minute
	gid, err := groupID(context.Background(), users, c.Credentials.Group)
	if err != nil {
		return nil, err
	}
	cache := &Cache{
		Store:    &Store{Dir: root.Path(im.Dir), GID: gid},
		Enroot:   &Enroot{User: im.ImportUser, Path: enrootPath(), Group: gid, Users: users},
		Registry: &Registry{Netrc: netrc, Transport: transport},
		Node:     node, MaxSize: int64(im.MaxSize), ImportTimeout: im.ImportTimeout.D(), Log: log, Stats: stats,
	}
	if err := cache.Store.Prepare(); err != nil {
		return nil, err
	}
	// No import of this node runs before its daemon does.
	if n := cache.Store.cleanWork(func(n, _ string) bool { return n == node }); n > 0 {
		log.Info("removed the work of imports that died with the previous daemon", zap.Int("dirs", n))
	}
	sock := root.Path(importer.DefaultSocket)
	if _, err := atomicfile.EnsureDir(filepath.Dir(sock), atomicfile.Options{Mode: 0o755, UID: -1, GID: -1}); err != nil {
		return nil, err
	}
	s := &Service{Cache: cache, server: &Server{Cache: cache, Log: log, Group: c.Credentials.Group, Users: users}, stop: make(chan struct{})}
	if err := s.server.Listen(sock); err != nil {
		return nil, err
	}
	log.Info("image cache serving Pyxis's importer", zap.String("socket", sock), zap.String("dir", cache.Store.Dir))
	s.wg.Add(1)
	go s.upkeep(im.Prepull, im.PrepullInterval.D())
	return s, nil
}

// Err is why the socket stopped accepting; nil while it serves.
func (s *Service) Err() error { return s.server.Err() }

// Stop closes the socket and waits for the upkeep; an import in flight is
// killed with its process group when the daemon exits.
func (s *Service) Stop() {
	s.server.Close()
	close(s.stop)
	s.wg.Wait()
}

func (s *Service) upkeep(prepull []string, every time.Duration) {
	defer s.wg.Done()
	maint := time.NewTicker(maintainEvery)
	defer maint.Stop()
	pull := time.NewTimer(0)
	defer pull.Stop()
	s.Cache.Evict()
	for {
		select {
		case <-s.stop:
			return
		case <-maint.C:
			s.Cache.recheck()
			s.Cache.Store.Renew(s.Cache.Node)
			s.Cache.Evict()
		case <-pull.C:
			s.prepull(prepull)
			pull.Reset(every)
		}
	}
}

// prepull keeps each listed image imported at its current digest, held by
// the daemon itself (its pid keeps the hold alive), so eviction keeps it.
func (s *Service) prepull(uris []string) {
	for i, uri := range uris {
		if !strings.Contains(uri, "://") {
			uri = "docker://" + uri
		}
		if err := s.prepullOne(i, uri); err != nil {
			s.Cache.Log.Warn("prepull failed; retried at the next interval", zap.String("image", uri), zap.Error(err))
		}
	}
}

func (s *Service) prepullOne(i int, uri string) error {
	im, err := imageref.ParseURI(uri)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Cache.ImportTimeout)
	defer cancel()
	var d imageref.Digest
	if at := strings.LastIndex(uri, "@sha256:"); at >= 0 {
		d, err = imageref.ParseDigest(uri[at+1:])
	} else {
		d, err = s.Cache.Registry.Resolve(ctx, im, tagOf(uri))
	}
	if err != nil {
		return err
	}
	v, err := s.Cache.Registry.Verify(ctx, im, d)
	if err != nil {
		return err
	}
	h := s.Cache.Store.daemonHolder("prepull", strconv.Itoa(i))
	if err := s.Cache.Store.Hold(v.Digest, s.Cache.Node, h); err != nil {
		return err
	}
	s.Cache.Store.releaseExcept(s.Cache.Node, h, v.Digest) // the digest it had before
	_, err = s.Cache.Get(ctx, v, nil, 0)
	return err
}

// tagOf is the tag of a prepull URI (validated by the config): what
// follows the last ':' after the repository, "latest" when there is none.
func tagOf(uri string) string {
	rest := uri[strings.LastIndexAny(uri, "/#")+1:]
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		return rest[i+1:]
	}
	return "latest"
}

// enrootPath is the PATH enroot and its tools are found on: the agent's own,
// which systemd sets, never a user's.
func enrootPath() string {
	if p := os.Getenv("PATH"); p != "" {
		return p
	}
	return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

// groupID is credentials.group's gid as the node's NSS says (a directory
// group works), -1 when it is not set.
func groupID(ctx context.Context, users *userdb.DB, group string) (int, error) {
	if group == "" {
		return -1, nil
	}
	gid, err := users.GID(ctx, group)
	if err != nil {
		return -1, fmt.Errorf("credentials.group %q: %w", group, err)
	}
	return gid, nil
}
