package config

import (
	"regexp"
	"strconv"
)

// Credentials says where registry credentials are written and for whom.
type Credentials struct {
	// EnrootConfigPath is the node-local directory that enroot.conf points
	// ENROOT_CONFIG_PATH at, so every user's enroot reads the .credentials the
	// agent keeps there. Empty disables the shared file.
	EnrootConfigPath string `yaml:"enroot_config_path"`
	// Group, when set, narrows the shared file to root:<group> mode 0640.
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

// DefaultEnrootConfigPath is on tmpfs, so tokens never reach a disk.
const DefaultEnrootConfigPath = "/run/enroot-agent/enroot-config"

func defaultCredentials() Credentials {
	return Credentials{EnrootConfigPath: DefaultEnrootConfigPath}
}

// principal is a user or group name, or a numeric id. Directory services
// name them more freely than useradd: SSSD's fully qualified
// "hpc-users@corp.example.com", Active Directory's "Domain Users", winbind's
// "CORP\hpc". What no name may hold is kept out: the ':' and ',' of the
// passwd and group formats, a leading '-' (an option to getent), control
// characters, and more than 256 bytes.
var principal = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.@\\ $-]{0,254}[A-Za-z0-9_.@\\$-])?$`)

func (p *problems) validateCredentials(c *Credentials) {
	switch {
	case c.EnrootConfigPath != "":
		p.absolute("credentials.enroot_config_path", c.EnrootConfigPath)
	case len(c.Files) == 0:
		p.addf("credentials.enroot_config_path", "is empty and credentials.files lists nothing: no user's enroot would get ECR credentials")
	}
	if c.Group != "" && !principal.MatchString(c.Group) {
		p.addf("credentials.group", "%q is not a group name or id", c.Group)
	}
	seen := map[string]bool{}
	for i := range c.Files {
		f := &c.Files[i]
		path := "credentials.files[" + strconv.Itoa(i) + "]"
		p.absolute(path+".path", f.Path)
		if seen[f.Path] {
			p.addf(path+".path", "%s is listed twice", f.Path)
		}
		seen[f.Path] = true
		for _, kv := range [][2]string{{".owner", f.Owner}, {".group", f.Group}} {
			if !principal.MatchString(kv[1]) {
				p.addf(path+kv[0], "%q is not a user or group name or id", kv[1])
			}
		}
		// A token file anyone can write lets anyone redirect pulls; one
		// anyone can read hands out the token: the shared file is the only
		// place where world-readable is the documented choice.
		if f.Mode.FileMode()&0o022 != 0 || f.Mode.FileMode()&0o7000 != 0 {
			p.addf(path+".mode", "%s is writable by group or others, or has special bits: a credentials file must not be", f.Mode)
		}
	}
}

// defaultFiles fills what each credentials.files entry leaves out, before
// validation: a mode is "left out" when the file had no line for it.
func (p *problems) defaultFiles(c *Credentials) {
	for i := range c.Files {
		defaultFile(&c.Files[i], p.lines["credentials.files["+strconv.Itoa(i)+"].mode"] != 0)
	}
}

// defaultFile fills what the file entry leaves out: root:root, mode 0600.
func defaultFile(f *CredentialFile, modeSet bool) {
	if f.Owner == "" {
		f.Owner = "root"
	}
	if f.Group == "" {
		f.Group = "root"
	}
	if !modeSet {
		f.Mode = 0o600
	}
}
