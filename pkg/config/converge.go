package config

import "time"

// Converge configures how the daemon keeps the node converged after its
// start: drift (an edited enroot.conf, a removed plugin, an upgraded Slurm)
// is repaired, not only reported.
type Converge struct {
	// Interval between periodic converges, each stretched by a random tenth
	// so a fleet does not act in step; 0 turns them off (a failing step
	// check still starts a repair).
	Interval Duration `yaml:"interval"`
}

func defaultConverge() Converge {
	return Converge{Interval: Duration(30 * time.Minute)}
}

func (p *problems) validateConverge(c *Converge) {
	if c.Interval != 0 {
		p.between("converge.interval", c.Interval, time.Minute, 24*time.Hour, " (0 turns it off)")
	}
}
