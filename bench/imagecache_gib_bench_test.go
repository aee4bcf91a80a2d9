package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/fake/registry"
)

// bigImage is the shape of a real training image, scaled to this machine's
// disk: 16 layers of 64 MiB of random bytes (1 GiB, incompressible) after
// the first layer with the shell, cat and the file the job prints.
var bigImage = registry.BigImage{Layers: 16, LayerSize: 64 << 20}

// BenchmarkImageCacheGiB is BenchmarkImageCache with a 1 GiB image in 17
// layers, measured side by side in one run on the real chain:
//
//   - srun to the first line of output: Pyxis's own import (images.cache
//     off; the user's first start, then again with enroot's layer cache
//     warm), the cache's first import (miss) and a hit (another user);
//   - the registry bytes of one own import (the image's worth), and of N
//     users starting a new image at once with the cache on, N = 1, 4, 8,
//     with the time until the last of them prints.
//
// N concurrent starts with the cache off are left out: each downloads and
// unpacks the whole image (BenchmarkImageCache shows the N× on 16 MiB),
// and eight at once would need about 32 GiB of disk for their layer
// caches, unpacked trees, squashfs files and containers.
func BenchmarkImageCacheGiB(b *testing.B) {
	for i := 0; i < b.N; i++ {
		r := newCacheRig(b, max(5, concurrency[len(concurrency)-1]))
		seed := uint64(time.Now().UnixNano())
		for j, tag := range []string{"g", "gon1", "gon4", "gon8"} {
			spec := bigImage
			spec.Seed = seed + uint64(j)
			r.pushBig(b, tag, spec)
		}
		r.apply(b) // images.cache off: Pyxis imports itself
		if err := r.c.StartSlurm(); err != nil {
			b.Fatal(err)
		}
		r.use("g")
		before := r.registryBytes(b)
		offCold := r.time(b, r.users[0])
		image := r.registryBytes(b) - before
		offWarm := r.time(b, r.users[0])
		r.cacheOn(b)
		miss := r.servedTime(b, r.users[1])
		hit := r.servedTime(b, r.users[2])
		b.ReportMetric(image/(1<<20), "image_MB")
		b.ReportMetric(offCold.Seconds(), "off_first_s")
		b.ReportMetric(offWarm.Seconds(), "off_again_s")
		b.ReportMetric(miss.Seconds(), "on_miss_s")
		b.ReportMetric(hit.Seconds(), "on_hit_s")
		b.ReportMetric(hit.Seconds()/offCold.Seconds(), "hit/off_first")
		b.ReportMetric(hit.Seconds()/offWarm.Seconds(), "hit/off_again")
		for _, n := range concurrency {
			r.use(fmt.Sprintf("gon%d", n))
			served := r.servedCount()
			on, last := r.starts(b, n)
			if got := r.servedCount() - served; got != n {
				b.Fatalf("%d of %d concurrent starts were served by the cache\ndaemon:\n%s", got, n, r.c.Redact(r.daemonLog()))
			}
			b.ReportMetric(on/(1<<20), fmt.Sprintf("on_MB_N%d", n))
			b.ReportMetric(on/image, fmt.Sprintf("on_N%d/image", n))
			b.ReportMetric(last.Seconds(), fmt.Sprintf("on_N%d_last_s", n))
		}
		// Last, as it changes Pyxis's line: with use_squashfuse=1 Pyxis
		// starts the container straight from the cached file, and the
		// unpack of the whole image (enroot create) leaves a hit too. The
		// daemon restarts on the new config, and a daemon process hashes a
		// file in full the first time it serves it: that first hit is
		// reported apart, and the second is the squashfuse hit.
		r.squashfuseOn(b)
		r.use("g")
		restarted := r.servedTime(b, r.users[3])
		fuseHit := r.servedTime(b, r.users[4])
		b.ReportMetric(restarted.Seconds(), "on_hit_new_daemon_s")
		b.ReportMetric(fuseHit.Seconds(), "on_hit_squashfuse_s")
		b.ReportMetric(fuseHit.Seconds()/offCold.Seconds(), "hit_squashfuse/off_first")
	}
}

// squashfuseOn sets pyxis.args.use_squashfuse: 1 and restarts the daemon
// on the new config (a daemon on the old one would repair the Pyxis line
// back). Enroot then mounts the image with squashfuse and fuse-overlayfs
// as the job's user, which needs both installed (scripts/test-deps.sh)
// and /dev/fuse open to users, as udev makes it on a node (0666); this
// machine runs no udev, so the mode is set for the run and put back.
func (r *cacheRig) squashfuseOn(b *testing.B) {
	for _, tool := range []string{"squashfuse", "fuse-overlayfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s is missing: install the Debian package %s (scripts/test-deps.sh)", tool, tool)
		}
	}
	st, err := os.Stat("/dev/fuse")
	if err != nil {
		b.Fatalf("no /dev/fuse: %v", err)
	}
	if mode := st.Mode().Perm(); mode != 0o666 {
		if err := os.Chmod("/dev/fuse", 0o666); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.Chmod("/dev/fuse", mode) })
	}
	conf, err := os.ReadFile(r.c.Config)
	if err != nil {
		b.Fatal(err)
	}
	with := strings.Replace(string(conf), "\npyxis:\n", "\npyxis:\n  args:\n    use_squashfuse: 1\n", 1)
	if with == string(conf) {
		b.Fatalf("no pyxis: section in %s", r.c.Config)
	}
	if err := os.WriteFile(r.c.Config, []byte(with), 0o644); err != nil {
		b.Fatal(err)
	}
	r.stopDaemon()
	r.apply(b)
	if plug, _ := os.ReadFile(filepath.Join(filepath.Dir(r.c.Plugstack), "plugstack.conf.d", "pyxis.conf")); !strings.Contains(string(plug), "use_squashfuse=1") {
		b.Fatalf("the Pyxis line has no use_squashfuse=1:\n%s", plug)
	}
	r.startDaemon(b)
}

// pushBig pushes ml/big:tag, the chain's file in the first layer of spec.
func (r *cacheRig) pushBig(b *testing.B, tag string, spec registry.BigImage) {
	ref := r.c.Host + ":" + r.c.Registry.Port + "/ml/big:" + tag
	if _, _, err := r.c.Registry.PushBigImage(ref, r.c.Token(), map[string]string{r.c.File: r.c.Want + "\n"}, spec); err != nil {
		b.Fatal(err)
	}
}

// servedTime is time for a start the cache must serve: one more "served a
// cached image" in the daemon's log, never the importer's fallback.
func (r *cacheRig) servedTime(b *testing.B, user string) time.Duration {
	before := r.servedCount()
	took := r.time(b, user)
	if r.servedCount() != before+1 {
		b.Fatalf("the start as %s was not served by the cache\ndaemon:\n%s", user, r.c.Redact(r.daemonLog()))
	}
	return took
}

// servedCount is how many gets the daemon has answered with a path.
func (r *cacheRig) servedCount() int { return strings.Count(r.daemonLog(), "served a cached image") }
