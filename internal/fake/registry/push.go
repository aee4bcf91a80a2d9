package registry

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushImage pushes a small random image to ref (host[:port]/repo:tag) on r as
// user AWS, with no Docker daemon. It returns the manifest digest.
func (r *Registry) PushImage(ref, password string) (string, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return "", err
	}
	img, err := random.Image(512, 1)
	if err != nil {
		return "", err
	}
	auth := remote.WithAuth(&authn.Basic{Username: "AWS", Password: password})
	if err := remote.Write(tag, img, auth, remote.WithTransport(r.Transport())); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	return d.String(), err
}
