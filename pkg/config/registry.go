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
var ecrHost = regexp.MustCompile(`^(\d{12})\.dkr([.-])ecr(-fips)?\.([a-z0-9][a-z0-9-]*)\.` +
	`(amazonaws\.com|amazonaws\.com\.cn|amazonaws\.eu|on\.aws|on\.amazonwebservices\.com\.cn|` +
	`sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$`)

// dualStackSuffix says which suffixes belong to the dual-stack (dkr-ecr)
// names; mixing the two forms names a host that does not exist.
var dualStackSuffix = map[string]bool{"on.aws": true, "on.amazonwebservices.com.cn": true}

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
	if m == nil || (m[2] == "-") != dualStackSuffix[m[5]] {
		return Registry{}, fmt.Errorf("%q is not an ECR registry host (<12-digit account>.dkr.ecr.<region>.amazonaws.com)", host)
	}
	return Registry{
		Host:      m[0],
		Account:   m[1],
		FIPS:      m[3] != "",
		Region:    m[4],
		DualStack: m[2] == "-",
		Suffix:    m[5],
	}, nil
}

// NodeRegistry names the account's private registry in region, for a node
// that discovered both from its instance identity document.
func NodeRegistry(account, region string) (Registry, error) {
	suffix := "amazonaws.com"
	for prefix, s := range partitionSuffix {
		if strings.HasPrefix(region, prefix) {
			suffix = s
		}
	}
	return ParseRegistry(account + ".dkr.ecr." + region + "." + suffix)
}

// partitionSuffix maps a region prefix to its partition's DNS suffix; every
// other region is in the aws partition.
var partitionSuffix = map[string]string{
	"cn-":      "amazonaws.com.cn",
	"us-iso-":  "c2s.ic.gov",
	"us-isob-": "sc2s.sgov.gov",
	"eu-isoe-": "cloud.adc-e.uk",
	"us-isof-": "csp.hci.ic.gov",
	"eusc-":    "amazonaws.eu",
}
