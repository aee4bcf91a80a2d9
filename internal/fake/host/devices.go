package host

import (
	"fmt"
	"os"
	"path/filepath"
)

// FakeVerbs makes root look like a node with an RDMA adapter bound to
// driver ("efa" for an EFA adapter, "mlx5_core" for a Mellanox one): a
// /dev/infiniband/<uverbs> node (a plain file: only its name matters) and
// the sysfs links the kernel makes, relative as in the real /sys, so they
// resolve inside root:
//
//	sys/class/infiniband_verbs/uverbsN -> ../../devices/<pci>/infiniband_verbs/uverbsN
//	sys/devices/<pci>/infiniband_verbs/uverbsN/device -> ../../../<pci>
//	sys/devices/<pci>/driver -> ../../../bus/pci/drivers/<driver>
func FakeVerbs(root, uverbs, pci, driver string) error {
	dev := filepath.Join(root, "sys/devices/pci0000:00", pci)
	class := filepath.Join(dev, "infiniband_verbs", uverbs)
	for _, d := range []string{class, filepath.Join(root, "sys/bus/pci/drivers", driver),
		filepath.Join(root, "sys/class/infiniband_verbs"), filepath.Join(root, "dev/infiniband")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	links := map[string]string{
		filepath.Join(root, "sys/class/infiniband_verbs", uverbs): "../../devices/pci0000:00/" + pci + "/infiniband_verbs/" + uverbs,
		filepath.Join(class, "device"):                            "../../../" + pci,
		filepath.Join(dev, "driver"):                              "../../../bus/pci/drivers/" + driver,
	}
	for link, target := range links {
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(root, "dev/infiniband", uverbs), nil, 0o666)
}

// FakeEFA is FakeVerbs for n EFA adapters, uverbs0 to uverbs<n-1>.
func FakeEFA(root string, n int) error {
	for i := 0; i < n; i++ {
		if err := FakeVerbs(root, fmt.Sprintf("uverbs%d", i), fmt.Sprintf("0000:%02x:1b.0", 0x10+i), "efa"); err != nil {
			return err
		}
	}
	return nil
}
