package config

import (
	"fmt"
	"regexp"
	"strings"
)

// ecrHost follows amazon-ecr-credential-helper's pattern: a 12-digit account,
// dkr.ecr (or dual-stack dkr-ecr), an optional -fips, a region, and one of the
// partitions' DNS suffixes. Anchored at both ends, so look-alikes such as
// "...amazonaws.com.evil.example" do not match.
var ecrHost = regexp.MustCompile(`^(\d{12})\.dkr[.-]ecr(-fips)?\.([a-z0-9][a-z0-9-]*)\.` +
	`(amazonaws\.com|amazonaws\.com\.cn|amazonaws\.eu|on\.aws|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$`)

// ParseRegistry checks that host is an ECR registry host name. A scheme, a
// path or a port is an error: enroot matches the credentials by bare host.
func ParseRegistry(host string) (Registry, error) {
	switch {
	case host == "":
		return Registry{}, fmt.Errorf("registry host is empty")
	case strings.Contains(host, "://"), strings.ContainsAny(host, "/:#@ "):
		return Registry{}, fmt.Errorf("%q is not a bare registry host (write it like 123456789012.dkr.ecr.us-east-1.amazonaws.com, with no scheme, port or path)", host)
	}
	m := ecrHost.FindStringSubmatch(strings.ToLower(host))
	if m == nil {
		return Registry{}, fmt.Errorf("%q is not an ECR registry host (<12-digit account>.dkr.ecr.<region>.amazonaws.com)", host)
	}
	return Registry{
		Host:      m[0],
		Account:   m[1],
		FIPS:      m[2] != "",
		Region:    m[3],
		DualStack: strings.Contains(m[0], ".dkr-ecr"),
		Suffix:    m[4],
	}, nil
}
