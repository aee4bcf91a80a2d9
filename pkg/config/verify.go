package config

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// Verify configures the health checks, their HTTP endpoint and what the
// daemon does when they fail.
type Verify struct {
	Listen string `yaml:"listen"`
	// ProbeRegistries makes the credentials check log in to each registry
	// (GET /v2/ with the token), which proves the token works but costs a
	// request per registry per check.
	ProbeRegistries bool `yaml:"probe_registries"`
	// ProbeImages are test images, written as enroot names them
	// (<host>#<repo>:<tag>), whose manifest and first layer the probe
	// fetches: a login alone cannot show that layers (S3, for ECR) are
	// out of reach.
	ProbeImages []string `yaml:"probe_images"`
	// TokenMargin is how long a token must still be valid to pass: an image
	// import that starts now must not meet an expired token.
	TokenMargin Duration `yaml:"token_margin"`
	// CacheTTL is how long one evaluation of the checks is served, so a
	// storm of probes costs one evaluation.
	CacheTTL Duration `yaml:"cache_ttl"`
	// Interval is how often the daemon evaluates the checks on its own (for
	// logging changes, metrics and draining).
	Interval Duration `yaml:"interval"`
	// Timeout bounds one evaluation of all checks.
	Timeout Duration `yaml:"timeout"`
	// DrainOnFailure drains the node in Slurm while a check fails, and
	// resumes it once healthy, never touching a drain an admin set.
	DrainOnFailure bool `yaml:"drain_on_failure"`
	// NodeName is this node's Slurm NodeName; empty means `hostname -s`.
	NodeName string `yaml:"node_name"`
	// ContainerUser is the unprivileged user the container-devices check
	// starts its probe container as, the way a job's enroot runs.
	ContainerUser string `yaml:"container_user"`
}

func defaultVerify() Verify {
	return Verify{
		Listen:        "127.0.0.1:9464",
		TokenMargin:   Duration(time.Hour),
		CacheTTL:      Duration(10 * time.Second),
		Interval:      Duration(time.Minute),
		Timeout:       Duration(20 * time.Second),
		ContainerUser: "nobody",
	}
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == s
}

func (p *problems) validateVerify(v *Verify) {
	if _, port, err := net.SplitHostPort(v.Listen); err != nil || port == "" {
		p.addf("verify.listen", "%q is not host:port", v.Listen)
	} else if !validPort(port) {
		p.addf("verify.listen", "%q is not host:port: the port must be a number 1..65535", v.Listen)
	}
	p.between("verify.token_margin", v.TokenMargin, 0, 11*time.Hour, " (an ECR token lives 12h)")
	p.between("verify.cache_ttl", v.CacheTTL, 0, 5*time.Minute, "")
	p.between("verify.interval", v.Interval, 10*time.Second, time.Hour, "")
	p.between("verify.timeout", v.Timeout, time.Second, 50*time.Second, " (Slurm kills a HealthCheckProgram after 60s)")
	for i, img := range v.ProbeImages {
		if _, _, _, err := ParseImage(img); err != nil {
			p.addf("verify.probe_images["+strconv.Itoa(i)+"]", "%v", err)
		}
	}
	if !principal.MatchString(v.ContainerUser) || v.ContainerUser == "root" || v.ContainerUser == "0" {
		p.addf("verify.container_user", "%q is not an unprivileged user name or id", v.ContainerUser)
	}
	if strings.ContainsAny(v.NodeName, " \t\n=,") {
		p.addf("verify.node_name", "%q is not a Slurm node name", v.NodeName)
	}
}
