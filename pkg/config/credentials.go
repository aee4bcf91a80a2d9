package config

import "strconv"

// Credentials says where registry credentials are written and for whom.
type Credentials struct {
	Group string           `yaml:"group"`
	Files []CredentialFile `yaml:"files"`
}

// CredentialFile is an extra netrc file kept like the default one.
type CredentialFile struct {
	Path  string `yaml:"path"`
	Owner string `yaml:"owner"`
	Group string `yaml:"group"`
	Mode  Mode   `yaml:"mode"`
}

func defaultCredentials() Credentials { return Credentials{} }

func (p *problems) validateCredentials(c *Credentials) {
	for i, f := range c.Files {
		p.absolute("credentials.files["+strconv.Itoa(i)+"].path", f.Path)
	}
}
