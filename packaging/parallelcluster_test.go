package packaging

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.yaml.in/yaml/v3"
)

// action is one OnNodeConfigured found in a cluster config, with the IAM of
// the node type it belongs to.
type action struct {
	where  string
	script string
	args   []string
	iam    map[string]any
}

func clusterActions(t *testing.T, file string) []action {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("parallelcluster", file))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []action
	add := func(where string, node map[string]any) {
		ca, _ := node["CustomActions"].(map[string]any)
		onc, _ := ca["OnNodeConfigured"].(map[string]any)
		if onc == nil {
			t.Errorf("%s: %s has no CustomActions.OnNodeConfigured", file, where)
			return
		}
		a := action{where: where, script: str(onc["Script"])}
		for _, x := range list(onc["Args"]) {
			a.args = append(a.args, str(x))
		}
		a.iam, _ = node["Iam"].(map[string]any)
		out = append(out, a)
	}
	head := doc["HeadNode"].(map[string]any)
	add("HeadNode", head)
	// The head node lives through cluster updates: OnNodeUpdated re-runs the
	// same bootstrap so a new package or config reaches it.
	ca, _ := head["CustomActions"].(map[string]any)
	if !reflect.DeepEqual(ca["OnNodeUpdated"], ca["OnNodeConfigured"]) {
		t.Errorf("%s: HeadNode OnNodeUpdated %v differs from OnNodeConfigured", file, ca["OnNodeUpdated"])
	}
	for _, q := range list(doc["Scheduling"].(map[string]any)["SlurmQueues"]) {
		add("queue "+str(q.(map[string]any)["Name"]), q.(map[string]any))
	}
	if ln, ok := doc["LoginNodes"].(map[string]any); ok {
		for _, p := range list(ln["Pools"]) {
			add("login pool "+str(p.(map[string]any)["Name"]), p.(map[string]any))
		}
	}
	return out
}

// The example cluster configs point every node at the bootstrap with
// arguments it accepts, configs that validate, and no IAM beyond ECR
// read-only and S3 read of the package.
func TestClusterConfigs(t *testing.T) {
	for file, wantManaged := range map[string]map[string]bool{
		"cluster-config.yaml":           {"HeadNode": true, "queue gpu": true},
		"cluster-config-head-node.yaml": {"HeadNode": true, "queue gpu": false, "login pool login": false},
	} {
		actions := clusterActions(t, file)
		if len(actions) != len(wantManaged) {
			t.Errorf("%s: %d node types run the agent, want %d", file, len(actions), len(wantManaged))
		}
		for _, a := range actions {
			cfg := checkArgs(t, file+": "+a.where, a)
			if got, want := cfg.Pyxis.PlugstackManaged, wantManaged[a.where]; got != want {
				t.Errorf("%s: %s: pyxis.plugstack_managed %v, want %v", file, a.where, got, want)
			}
			checkIAM(t, file+": "+a.where, a.iam)
		}
	}
}

// checkArgs parses Args the way the script does and returns the config the
// node would get.
func checkArgs(t *testing.T, where string, a action) config.Config {
	if !strings.HasSuffix(a.script, "/enroot-agent/on-node-configured.sh") || !strings.HasPrefix(a.script, "s3://") {
		t.Errorf("%s: Script %q", where, a.script)
	}
	if len(a.args) == 0 || !strings.HasSuffix(a.args[0], ".{arch}.rpm") {
		t.Fatalf("%s: first argument must be the package: %q", where, a.args)
	}
	cfg := config.Default()
	for i := 1; i < len(a.args); i += 2 {
		if i+1 >= len(a.args) {
			t.Fatalf("%s: %s has no value", where, a.args[i])
		}
		opt, val := a.args[i], a.args[i+1]
		switch opt {
		case "--config":
			cfg = loadExample(t, filepath.Base(val))
		case "--registries":
			host := strings.NewReplacer("<account>", "123456789012", "<region>", "us-east-1").Replace(val)
			if _, err := config.ParseRegistry(host); err != nil {
				t.Errorf("%s: --registries: %v", where, err)
			}
		case "--timeout":
			if val != "900" {
				t.Errorf("%s: --timeout %s", where, val)
			}
		default:
			t.Errorf("%s: the script has no option %s", where, opt)
		}
	}
	return cfg
}

// loadExample validates an example node config with the real binary and
// returns it parsed.
func loadExample(t *testing.T, name string) config.Config {
	path := filepath.Join("parallelcluster", name)
	if out := run(t, packages(t).bin, "--config", path, "validate"); strings.TrimSpace(out) != "config OK" {
		t.Errorf("%s: %s", name, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var allowedPolicies = []string{
	"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
	"arn:aws:iam::<account>:policy/enroot-agent-package-read",
}

func checkIAM(t *testing.T, where string, iam map[string]any) {
	for k := range iam {
		if k != "S3Access" && k != "AdditionalIamPolicies" {
			t.Errorf("%s: Iam.%s grants more than the agent needs", where, k)
		}
	}
	for _, s := range list(iam["S3Access"]) {
		m := s.(map[string]any)
		if m["EnableWriteAccess"] != false || str(m["KeyName"]) != "enroot-agent/*" {
			t.Errorf("%s: S3Access %v: want read-only on enroot-agent/*", where, m)
		}
	}
	ecr := false
	for _, p := range list(iam["AdditionalIamPolicies"]) {
		arn := str(p.(map[string]any)["Policy"])
		ecr = ecr || arn == allowedPolicies[0]
		if !slices.Contains(allowedPolicies, arn) {
			t.Errorf("%s: policy %s is more than ECR read-only and S3 read", where, arn)
		}
	}
	if !ecr {
		t.Errorf("%s: no AmazonEC2ContainerRegistryReadOnly", where)
	}
}

func TestPackageReadPolicy(t *testing.T) {
	data, err := os.ReadFile("parallelcluster/package-read-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct{ Effect, Action, Resource string }
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Statement) != 1 || p.Statement[0].Action != "s3:GetObject" || p.Statement[0].Resource != "arn:aws:s3:::<bucket>/enroot-agent/*" {
		t.Errorf("policy grants %+v", p.Statement)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}
