package config

import "net"

// Verify configures the health checks and their HTTP endpoint.
type Verify struct {
	Listen string `yaml:"listen"`
}

func defaultVerify() Verify { return Verify{Listen: "127.0.0.1:9464"} }

func (p *problems) validateVerify(v *Verify) {
	if _, _, err := net.SplitHostPort(v.Listen); err != nil {
		p.addf("verify.listen", "%q is not host:port", v.Listen)
	}
}
