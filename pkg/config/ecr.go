package config

import (
	"strconv"
	"time"
)

// ECR lists the registries to keep credentials for and when to refresh them.
type ECR struct {
	Registries          []Registry `yaml:"registries"`
	RefreshInterval     Duration   `yaml:"refresh_interval"`
	RefreshBeforeExpiry Duration   `yaml:"refresh_before_expiry"`
}

func defaultECR() ECR {
	return ECR{
		RefreshInterval:     Duration(6 * time.Hour),
		RefreshBeforeExpiry: Duration(2 * time.Hour),
	}
}

func (p *problems) validateECR(e *ECR) {
	seen := map[string]bool{}
	for i, r := range e.Registries {
		if seen[r.Host] {
			p.addf("ecr.registries["+strconv.Itoa(i)+"]", "%s is listed twice", r.Host)
		}
		seen[r.Host] = true
	}
	// A token lives 12 hours; the interval must leave room for retries.
	if d := e.RefreshInterval.D(); d < time.Minute || d > 11*time.Hour {
		p.addf("ecr.refresh_interval", "%s is outside 1m..11h (an ECR token lives 12h)", d)
	}
	if d := e.RefreshBeforeExpiry.D(); d < time.Minute || d > 11*time.Hour {
		p.addf("ecr.refresh_before_expiry", "%s is outside 1m..11h (an ECR token lives 12h)", d)
	}
}
