// Package probe pulls from a registry the way enroot does, stage by stage,
// to tell an admin which part of a pull fails on this node: login (GET
// /v2/, then Basic with the netrc entry, or Bearer by trading it for a token
// at the challenge's realm), the manifest (an index followed to this node's
// platform), and the first bytes of one layer through the registry's
// redirects (ECR sends layers to S3). Each stage is reported with what it
// said on failure and what to do; nothing reported holds a secret.
//
// The registry client is go-containerregistry's transport (Ping, Exchange,
// FromToken): it parses the challenge, trades the credentials for a token
// and sets Authorization only on requests to the registry itself, never on
// a redirect to another host. The probe speaks HTTPS to the registry, as
// enroot does, even where go-containerregistry would fall back to plain
// HTTP (a loopback or RFC 1918 address).
package probe
