package aws

import "strings"

// signedScope reads the SigV4 credential scope of any service:
// "AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...".
func signedScope(h string) (key, region, service string, ok bool) {
	rest, found := strings.CutPrefix(h, "AWS4-HMAC-SHA256 Credential=")
	if !found || !strings.Contains(h, "Signature=") {
		return "", "", "", false
	}
	scope, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(scope, "/")
	if len(parts) != 5 {
		return "", "", "", false
	}
	return parts[0], parts[2], parts[3], true
}

// sigV4Scope is signedScope for ECR only: region and key of an ecr-signed
// request.
func sigV4Scope(h string) (region, key string, ok bool) {
	key, region, service, ok := signedScope(h)
	if !ok || service != "ecr" {
		return "", "", false
	}
	return region, key, true
}
