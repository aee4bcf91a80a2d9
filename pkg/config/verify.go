package config

import (
	"net"
	"time"
)

// Verify configures the health checks and their HTTP endpoint.
type Verify struct {
	Listen string `yaml:"listen"`
	// ProbeRegistries makes the credentials check log in to each registry
	// (GET /v2/ with the token), which proves the token works but costs a
	// request per registry per check.
	ProbeRegistries bool `yaml:"probe_registries"`
	// TokenMargin is how long a token must still be valid to pass: an image
	// import that starts now must not meet an expired token.
	TokenMargin Duration `yaml:"token_margin"`
}

func defaultVerify() Verify {
	return Verify{Listen: "127.0.0.1:9464", TokenMargin: Duration(time.Hour)}
}

func (p *problems) validateVerify(v *Verify) {
	if _, _, err := net.SplitHostPort(v.Listen); err != nil {
		p.addf("verify.listen", "%q is not host:port", v.Listen)
	}
	p.between("verify.token_margin", v.TokenMargin, 0, 11*time.Hour, " (an ECR token lives 12h)")
}
