// Package artifact downloads release files (Enroot packages, the Pyxis
// tarball) into a local cache and verifies them before anyone uses them.
//
// A caller builds one Fetcher per cache directory and calls Fetch for each
// file. Sources are https://, http://, s3:// (through the aws-sdk-go-v2 S3
// client in the AWS helper process, package awsproc, with the node's
// credentials; AWS_ENDPOINT_URL_S3 aims it at a mirror)
// and file://. A file is verified against the sha256 the caller pins (from
// the config) or, failing that, against a SHA256SUMS file beside it at the
// source. When neither exists the file is "unpinned": Fetch still returns it,
// marked as such, unless the request requires a digest. Downloads are retried
// with capped exponential backoff, resumed with HTTP Range requests, and time
// out when the server stops answering.
//
// fetcher.go is the Fetcher, what it takes and returns, and where the
// expected digest comes from (the pin, SHA256SUMS); download.go is one
// download with its resume, retries and stall watch; source.go opens each
// kind of URL.
package artifact
