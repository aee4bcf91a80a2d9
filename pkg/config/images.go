package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/lazyre"
	"github.com/enroot-agent/enroot-agent/internal/version"
	"go.yaml.in/yaml/v3"
)

// Images configures the shared image cache that Pyxis reaches through its
// importer interface: the agent imports each image once per cache directory,
// by pinned digest, and hands every user's job a read-only squashfs.
type Images struct {
	// Cache turns the cache on: the Pyxis line gets importer=Importer and
	// the daemon serves the importer's socket.
	Cache bool `yaml:"cache"`
	// Dir holds the squashfs files; only the agent writes it. Node-local by
	// default; a shared filesystem (FSx for Lustre) lets one node import
	// for all.
	Dir string `yaml:"dir"`
	// MaxSize bounds the files in Dir; least recently used images nobody
	// holds are evicted past it. 0 means unbounded.
	MaxSize Size `yaml:"max_size"`
	// Prepull lists images kept imported at their current digest.
	Prepull []string `yaml:"prepull"`
	// PrepullInterval is how often the prepull list is re-resolved.
	PrepullInterval Duration `yaml:"prepull_interval"`
	// ImportUser is the unprivileged user enroot import runs as.
	ImportUser string `yaml:"import_user"`
	// Importer is the executable Pyxis runs (`<it> get URI`, `<it> release`).
	Importer string `yaml:"importer"`
	// ImportTimeout bounds one import.
	ImportTimeout Duration `yaml:"import_timeout"`
	// UserImports bounds the imports one uid's requests start at once on a
	// node.
	UserImports int `yaml:"user_imports"`
	// UserImages bounds the distinct images one uid holds at once.
	UserImages int `yaml:"user_images"`
	// UserMaxSize bounds the bytes of the images one uid holds at once;
	// 0: a quarter of MaxSize.
	UserMaxSize Size `yaml:"user_max_size"`
}

// UserBytes is the per-uid bound in bytes, 0 when unbounded.
func (im Images) UserBytes() int64 {
	if im.UserMaxSize > 0 {
		return int64(im.UserMaxSize)
	}
	return int64(im.MaxSize) / 4
}

func defaultImages() Images {
	return Images{
		Dir:             "/var/cache/enroot-agent-images",
		MaxSize:         Size(100 << 30),
		PrepullInterval: Duration(time.Hour),
		ImportUser:      "nobody",
		Importer:        "/usr/bin/enroot-agent",
		ImportTimeout:   Duration(time.Hour),
		UserImports:     2,
		UserImages:      8,
	}
}

// importerSince is the first Pyxis with an importer interface.
var importerSince = version.V{0, 21, 0}

func (p *problems) validateImages(c *Config) {
	im := &c.Images
	p.absolute("images.dir", im.Dir)
	p.absolute("images.importer", im.Importer)
	p.between("images.prepull_interval", im.PrepullInterval, time.Minute, 7*24*time.Hour, "")
	p.between("images.import_timeout", im.ImportTimeout, time.Minute, 24*time.Hour, "")
	if !principal.MatchString(im.ImportUser) || im.ImportUser == "root" || im.ImportUser == "0" {
		p.addf("images.import_user", "%q is not an unprivileged user name or id", im.ImportUser)
	}
	if im.UserImports < 1 || im.UserImports > 64 {
		p.addf("images.user_imports", "%d is not between 1 and 64", im.UserImports)
	}
	if im.UserImages < 1 || im.UserImages > 1024 {
		p.addf("images.user_images", "%d is not between 1 and 1024", im.UserImages)
	}
	if im.MaxSize > 0 && im.UserMaxSize > im.MaxSize {
		p.addf("images.user_max_size", "%s is more than images.max_size (%s)", im.UserMaxSize, im.MaxSize)
	}
	for i, uri := range im.Prepull {
		if msg := prepullURI(uri); msg != "" {
			p.addf("images.prepull["+strconv.Itoa(i)+"]", "%q %s", uri, msg)
		}
	}
	if !im.Cache {
		return
	}
	if v, ok := version.Parse(c.Pyxis.Version); ok && v.Less(importerSince) {
		p.addf("images.cache", "needs Pyxis %s or newer (its importer interface); pyxis.version is %s", importerSince, v)
	}
	if have, set := c.Pyxis.Args["importer"]; set && have != im.Importer {
		p.addf("images.cache", "pyxis.args.importer is %q: with images.cache the agent wires importer=%s itself; remove pyxis.args.importer", have, im.Importer)
	}
}

// prepullURI says what is wrong with an image to prepull: it must be a
// docker:// URI or an enroot-style REGISTRY#repo:tag.
func prepullURI(uri string) string {
	if strings.ContainsAny(uri, " \t\n") || uri == "" {
		return "is not an image name"
	}
	if strings.Contains(uri, "://") && !strings.HasPrefix(uri, "docker://") {
		return "is not a docker:// image (only registry images can be prepulled)"
	}
	return ""
}

// Size is a byte count written with a unit in YAML: "100GiB", "500G", "0".
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"T", 1e12}, {"G", 1e9}, {"M", 1e6}, {"K", 1e3}, {"B", 1}, {"", 1}}

func (s *Size) decodeNode(n *yaml.Node) error {
	v, ok := ParseSize(n.Value)
	if !ok || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%q is not a size (write it like 100GiB or 500G; 0 means unbounded)", n.Value)
	}
	*s = v
	return nil
}

// ParseSize reads "100GiB", "1.5T", "0".
func ParseSize(v string) (Size, bool) {
	v = strings.TrimSpace(v)
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(v, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || f < 0 || f*float64(u.mult) > 1<<62 {
			return 0, false
		}
		return Size(f * float64(u.mult)), true
	}
	return 0, false
}

func (s Size) String() string {
	for _, u := range sizeUnits[:4] {
		if s != 0 && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// PyxisArgs are the arguments of the Pyxis line: pyxis.args, plus the
// importer when the image cache is on.
func (c *Config) PyxisArgs() map[string]string {
	if !c.Images.Cache {
		return c.Pyxis.Args
	}
	args := map[string]string{"importer": c.Images.Importer}
	for k, v := range c.Pyxis.Args {
		args[k] = v
	}
	return args
}

// repoPath is a repository name as the distribution spec allows it.
var repoPath = lazyre.New(`^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)

var tagOrDigest = lazyre.New(`^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[0-9a-f]{64})$`)

// ParseImage splits an enroot image name, <host>#<repo>:<tag> or
// <host>#<repo>@sha256:<hex>, into its parts.
func ParseImage(img string) (host, repo, ref string, err error) {
	host, rest, ok := strings.Cut(img, "#")
	if !ok || !bareHost.MatchString(host) {
		return "", "", "", fmt.Errorf("%q is not <registry host>#<repository>:<tag> (as enroot names an image)", clip(img, maxQuoted))
	}
	repo, ref, ok = strings.Cut(rest, "@")
	if !ok {
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			return "", "", "", fmt.Errorf("%q names no tag: write <repository>:<tag>", clip(img, maxQuoted))
		}
		repo, ref = rest[:i], rest[i+1:]
	}
	if !repoPath.MatchString(repo) || !tagOrDigest.MatchString(ref) {
		return "", "", "", fmt.Errorf("%q is not <registry host>#<repository>:<tag>", clip(img, maxQuoted))
	}
	return host, repo, ref, nil
}
