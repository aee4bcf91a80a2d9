package images

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A manifest check on every cache hit (each job step's get) used to start
// from nothing: go-containerregistry's remote.Get asks the registry's /v2/
// for its challenge, trades the credentials for a token where the registry
// wants one, and only then asks for the manifest. pullers keeps that
// handshake, one remote.Puller per repository and credentials, so a hit
// costs the manifest request alone, on a kept-alive connection.
//
// What is kept is the handshake, never an answer: every check still GETs
// the manifest by digest with the agent's credentials as the netrc file
// holds them now, and hashes the bytes. A token the registry no longer
// takes is traded again by go-containerregistry on its 401; a check that
// fails through a kept puller is tried once more through a new one, so a
// stale handshake never becomes a failure the daemon remembers.
type pullers struct {
	mu sync.Mutex
	m  map[string]*kept // by repository
}

// kept is one repository's puller and the credentials it was made with.
type kept struct {
	puller *remote.Puller
	cred   [sha256.Size]byte // a hash: the secret itself stays in the puller
	made   time.Time
	used   time.Time
}

// Bounds: users name any repository of any registry, so at most
// maxPullers repositories are kept (the least recently used goes), and a
// handshake is redone after pullerAge however busy its repository.
const (
	maxPullers = 64
	pullerAge  = 10 * time.Minute
)

// get returns the kept puller of repo for cred, or a new one (fresh: true),
// which replaces the repository's old one.
func (ps *pullers) get(repo name.Repository, cred authn.AuthConfig, newPuller func() (*remote.Puller, error)) (*remote.Puller, bool, error) {
	key := credKey(cred)
	now := time.Now()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if k, ok := ps.m[repo.Name()]; ok && k.cred == key && now.Sub(k.made) < pullerAge {
		k.used = now
		return k.puller, false, nil
	}
	p, err := newPuller()
	if err != nil {
		return nil, true, err
	}
	if ps.m == nil {
		ps.m = map[string]*kept{}
	}
	delete(ps.m, repo.Name())
	if len(ps.m) >= maxPullers {
		ps.evictOldest()
	}
	ps.m[repo.Name()] = &kept{puller: p, cred: key, made: now, used: now}
	return p, true, nil
}

// forget drops repo's puller when it is still p.
func (ps *pullers) forget(repo name.Repository, p *remote.Puller) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if k, ok := ps.m[repo.Name()]; ok && k.puller == p {
		delete(ps.m, repo.Name())
	}
}

func (ps *pullers) evictOldest() {
	var oldest string
	var at time.Time
	for repo, k := range ps.m {
		if oldest == "" || k.used.Before(at) {
			oldest, at = repo, k.used
		}
	}
	delete(ps.m, oldest)
}

func (ps *pullers) len() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.m)
}

func credKey(c authn.AuthConfig) [sha256.Size]byte {
	return sha256.Sum256([]byte(c.Username + "\x00" + c.Password + "\x00" + c.Auth + "\x00" + c.IdentityToken + "\x00" + c.RegistryToken))
}

// getManifest is remote.Get of ref through repo's kept puller, tried once
// more through a new puller when a kept one fails.
func (r *Registry) getManifest(ctx context.Context, ref name.Reference) (*remote.Descriptor, error) {
	repo := ref.Context()
	cred := r.authConfig(repo.RegistryStr())
	newPuller := func() (*remote.Puller, error) {
		return remote.NewPuller(remote.WithTransport(limitManifests{r.transport()}), remote.WithAuth(authenticator(cred)))
	}
	p, fresh, err := r.pullers.get(repo, cred, newPuller)
	if err != nil {
		return nil, err
	}
	desc, err := p.Get(ctx, ref)
	if err == nil || fresh || ctx.Err() != nil {
		return desc, err
	}
	r.pullers.forget(repo, p)
	if p, _, err = r.pullers.get(repo, cred, newPuller); err != nil {
		return nil, err
	}
	return p.Get(ctx, ref)
}
