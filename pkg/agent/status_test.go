package agent

import (
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/pkg/credentials"
	"github.com/enroot-agent/enroot-agent/pkg/images"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

func at(hhmm string) time.Time {
	t, _ := time.Parse("2006-01-02 15:04", "2026-11-28 "+hhmm)
	return t
}

func TestStatusLine(t *testing.T) {
	healthy := &credentials.Status{
		Registries:  []credentials.RegistryStatus{{Host: "a", ExpiresAt: at("21:04")}, {Host: "b", ExpiresAt: at("22:00")}},
		LastAttempt: at("09:04"), LastSuccess: at("09:04"), NextRefresh: at("15:11"),
	}
	throttled := &credentials.Status{
		Registries:  []credentials.RegistryStatus{{Host: "a", ExpiresAt: at("13:40")}},
		LastAttempt: at("10:00"), FailingSince: at("09:12"),
		LastError: "ecr us-east-1: operation error ECR: GetAuthorizationToken, ThrottlingException: Rate exceeded",
	}
	cases := []struct {
		v    statusView
		want string
	}{
		{statusView{Now: at("10:00"), EnrootVersion: "4.1.2", PyxisVersion: "0.24.0", Creds: healthy},
			"ready: enroot 4.1.2, pyxis 0.24.0; ECR 2 registries, token valid until 21:04Z, next refresh 15:11Z"},
		{statusView{Now: at("10:00"), EnrootVersion: "4.1.2", Creds: throttled},
			"degraded: ECR refresh failing since 09:12Z (throttled), token valid until 13:40Z"},
		{statusView{Now: at("10:00"), PyxisVersion: "0.24.0", Creds: healthy,
			FailingCheck: "pyxis-plugin", CheckStatus: verify.Fail, FailingSince: at("09:12"), NextRetry: at("10:08")},
			"degraded: check pyxis-plugin failing since 09:12Z (retry 10:08Z); ECR 2 registries, token valid until 21:04Z, next refresh 15:11Z"},
		{statusView{Now: at("10:00"), Phase: "starting: converging the node"},
			"starting: converging the node"},
		{statusView{Now: at("10:00"), Creds: healthy, FailingCheck: "pyxis plugin", ReloadErr: at("09:59")},
			"degraded: check pyxis plugin failing; config reload rejected at 09:59Z, old config kept (see journal); ECR 2 registries, token valid until 21:04Z, next refresh 15:11Z"},
		{statusView{Now: at("23:00"), Creds: healthy},
			"degraded: ECR 2 registries, no valid token for a, next refresh 15:11Z"},
		// /verify answers 503 for an unknown check: STATUS= must not say ready.
		{statusView{Now: at("10:00"), EnrootVersion: "4.1.2", Creds: healthy, FailingCheck: "slurm-memlock", CheckStatus: verify.Unknown},
			"degraded: check slurm-memlock cannot tell; ECR 2 registries, token valid until 21:04Z, next refresh 15:11Z"},
		{statusView{Now: at("10:00"), Repairing: true, FailingCheck: "step enroot-conf", FailingSince: at("09:58"), NextRetry: at("10:01"), CheckStatus: verify.Fail, Creds: healthy},
			"repairing: check step enroot-conf failing since 09:58Z"},
		{statusView{Now: at("10:00"), Phase: "starting: converging the node", FailingCheck: "pyxis-plugin", CheckStatus: verify.Fail},
			"starting: converging the node; check pyxis-plugin failing"},
		{statusView{Now: at("10:00"), EnrootVersion: "4.1.2", Creds: healthy, Images: &images.Snapshot{CachedImages: 3, CacheBytes: 2254857830}},
			"ready: enroot 4.1.2; ECR 2 registries, token valid until 21:04Z, next refresh 15:11Z; images: 3 cached, 2.1 GiB"},
		{statusView{Now: at("10:00"), Images: &images.Snapshot{}, FailingCheck: "image-cache-space"},
			"degraded: check image-cache-space failing; images: 0 cached, 0 B"},
		{statusView{Now: at("10:00"), Images: &images.Snapshot{CachedImages: 1, CacheBytes: 700 << 20}},
			"ready: node converged; images: 1 cached, 700.0 MiB"},
		{statusView{Now: at("10:00"), CredsErr: `group "hpc" does not exist`},
			`degraded: ECR credentials not kept: group "hpc" does not exist`},
	}
	for _, c := range cases {
		if got := statusLine(c.v); got != c.want {
			t.Errorf("\n got %s\nwant %s", got, c.want)
		}
	}
}
