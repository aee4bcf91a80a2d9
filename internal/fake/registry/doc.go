// Package registry runs Debian's real docker-registry (distribution 2.8)
// on 127.0.0.1 with TLS from a test CA and htpasswd basic auth for user
// AWS, whose password plays the ECR token, and pushes images to it with
// go-containerregistry: a one-file image with a shell and cat from this
// machine, images of given programs, and big images of random layers.
// BlobRedirect stands in front of it and answers blob GETs as ECR does,
// with a redirect to an S3 stand-in.
package registry
