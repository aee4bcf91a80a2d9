package accel

import (
	"fmt"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/lazyre"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// RestrictDev is the enroot.conf key that gives containers a tmpfs /dev
// with basic devices only. Enroot's 99-mellanox.sh brings back mlx
// devices, nothing brings back EFA's: NCCL over EFA then fails with
// fi_getinfo -61 (aws-ofi-nccl #1020).
const RestrictDev = "ENROOT_RESTRICT_DEV"

// enrootFalse is what enroot's config loader unsets a boolean for
// (enroot's config::fini); any other non-empty value turns it on.
var enrootFalse = lazyre.New(`^(no?|N[oO]?|[fF](alse)?|FALSE)$`)

// ConfKeys are the enroot.conf keys this node's devices need, whatever
// the config says, laid over conf by the enroot-conf step: on a node with
// EFA adapters, ENROOT_RESTRICT_DEV no, written out so that no
// enroot.conf.d drop-in can turn it on (enroot keeps the first value it
// reads). warn says when that overrides a value the config set. Without
// EFA nothing is added and enroot.conf is exactly the config's.
func ConfKeys(root config.Root, conf map[string]string) (keys map[string]string, warn string, err error) {
	efa, err := EFADevices(root)
	if err != nil {
		return nil, "", fmt.Errorf("look for EFA devices: %w", err)
	}
	if len(efa) == 0 {
		return nil, "", nil
	}
	if v := strings.TrimSpace(conf[RestrictDev]); v != "" && !enrootFalse.MatchString(v) {
		warn = fmt.Sprintf("enroot.conf.%s is %q, but this node has EFA devices (%s) that a restricted /dev hides from every container: enroot.conf gets %s no",
			RestrictDev, v, strings.Join(efa, ", "), RestrictDev)
	}
	return map[string]string{RestrictDev: "no"}, warn, nil
}
