package images

import (
	"sync"

	"github.com/enroot-agent/enroot-agent/pkg/imageref"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A hit on an index (a multi-platform image, and what docker buildx pushes
// by default, with its attestations) cost two manifest requests: the index
// the user named, then this node's platform manifest it names. The first
// is what every request must make: it is the user's image, fetched now
// with the agent's credentials of now, so a revoked permission, a deleted
// image or a registry that lies is seen at once. The second only fetches
// bytes named by their digest from a verified index: platforms keeps them,
// by source and digest, once they were fetched from that source and hashed
// to that digest, so a later hit makes the first request alone.
//
// By source, not by digest alone: a source is answered from what it served
// itself. An index on a user's own registry naming the platform manifest
// of another registry's private image is followed to that user's registry,
// which must serve those bytes, as before.
type platforms struct {
	mu    sync.Mutex
	m     map[platformKey]platformManifest
	bytes int
}

type platformKey struct {
	source string
	digest imageref.Digest
}

type platformManifest struct {
	body []byte
	mt   types.MediaType
}

// Bounds: real platform manifests are a few KiB.
const (
	maxPlatforms      = 256
	maxPlatformBytes  = 1 << 20 // all of them
	maxPlatformToKeep = 64 << 10
)

func (p *platforms) get(source string, d imageref.Digest) (platformManifest, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.m[platformKey{source, d}]
	return m, ok
}

// put keeps a verified platform manifest; when the bounds are reached, all
// are dropped (the next hit of each fetches it once more).
func (p *platforms) put(source string, d imageref.Digest, m platformManifest) {
	if len(m.body) > maxPlatformToKeep {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := platformKey{source, d}
	if _, ok := p.m[k]; ok {
		return
	}
	if p.m == nil || len(p.m) >= maxPlatforms || p.bytes+len(m.body) > maxPlatformBytes {
		p.m, p.bytes = map[platformKey]platformManifest{}, 0
	}
	p.m[k] = m
	p.bytes += len(m.body)
}
