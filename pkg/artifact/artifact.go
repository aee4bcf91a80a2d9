// Package artifact downloads release files (Enroot packages, the Pyxis
// tarball) into a local cache and verifies them before anyone uses them.
//
// A caller builds one Fetcher per cache directory and calls Fetch for each
// file. Sources are https://, http://, s3:// (through the aws-sdk-go-v2 S3
// client and the node's credentials; AWS_ENDPOINT_URL_S3 aims it at a mirror)
// and file://. A file is verified against the sha256 the caller pins (from
// the config) or, failing that, against a SHA256SUMS file beside it at the
// source. When neither exists the file is "unpinned": Fetch still returns it,
// marked as such, unless the request requires a digest. Downloads are retried
// with capped exponential backoff, resumed with HTTP Range requests, and time
// out when the server stops answering.
package artifact

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// Request names one file to fetch.
type Request struct {
	// URL is the file's full address: https://, http://, s3:// or file://.
	URL string
	// Name is the file's name in the cache and in SHA256SUMS; it defaults
	// to the last element of URL.
	Name string
	// SHA256 is the pinned digest (hex). Empty means: look for a SHA256SUMS
	// file in the same directory as URL.
	SHA256 string
	// RequirePinned makes a file with no digest anywhere an error.
	RequirePinned bool
}

// Result is a verified file in the cache.
type Result struct {
	Path   string // the cached file; never modified once verified
	SHA256 string // the digest of the file as fetched
	// PinnedBy says where the expected digest came from: PinnedByConfig,
	// PinnedBySums, or "" when the file is unpinned.
	PinnedBy string
	// Cached is true when the file was already in the cache and no
	// download was needed.
	Cached bool
}

// Where a digest came from.
const (
	PinnedByConfig = "config"
	PinnedBySums   = "SHA256SUMS"
)

// Unpinned reports whether no digest vouched for the file.
func (r Result) Unpinned() bool { return r.PinnedBy == "" }

// SumsFile is the name of the digest list looked for beside a file.
const SumsFile = "SHA256SUMS"

// Expand replaces every {version} in tmpl, as used in source URLs.
func Expand(tmpl, version string) string {
	return strings.ReplaceAll(tmpl, "{version}", version)
}

// Join appends a file name to a base URL such as
// "https://example.com/releases/v1/" or "s3://bucket/prefix".
func Join(base, name string) string {
	return strings.TrimSuffix(base, "/") + "/" + name
}

func (r Request) name() string {
	if r.Name != "" {
		return r.Name
	}
	return path.Base(r.URL)
}

// sumsURL is the SHA256SUMS beside the file.
func (r Request) sumsURL() string {
	i := strings.LastIndex(r.URL, "/")
	return r.URL[:i+1] + SumsFile
}

// MismatchError is returned when a file's digest is not the expected one.
// The file is discarded; nothing downstream sees it.
type MismatchError struct {
	Name     string
	URL      string
	Expected string
	Actual   string
	PinnedBy string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: sha256 mismatch: expected %s (from %s), got %s (downloaded from %s); the file was discarded",
		e.Name, e.Expected, e.PinnedBy, e.Actual, e.URL)
}

// UnpinnedError is returned when RequirePinned is set and no digest exists.
type UnpinnedError struct {
	Name string
	URL  string
}

func (e *UnpinnedError) Error() string {
	return fmt.Sprintf("%s: no sha256 pinned in the config and no %s at %s; refusing an unverified download (pin its digest)",
		e.Name, SumsFile, strings.TrimSuffix(e.URL, path.Base(e.URL)))
}

// Redact hides a password in a URL's user info (https://user:pass@mirror/)
// before it reaches a log line, an error or a plan.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
