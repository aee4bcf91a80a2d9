package configdoc_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/configdoc"
	"github.com/enroot-agent/enroot-agent/internal/fake"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"go.yaml.in/yaml/v3"
)

func readmeRows(t *testing.T) []configdoc.Row {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(fake.ModuleRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := configdoc.ParseTable(string(md), "## Configuration")
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	return rows
}

// Every key config.Config accepts has a row in the README's configuration
// table, and every row names a real key: the reference cannot drift.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	documented := map[string]int{}
	for _, r := range readmeRows(t) {
		if line, dup := documented[r.Key]; dup {
			t.Errorf("README.md:%d: `%s` is documented twice (also line %d)", r.Line, r.Key, line)
		}
		documented[r.Key] = r.Line
	}
	keys := configdoc.Keys(reflect.TypeOf(config.Config{}))
	for _, k := range keys {
		if _, ok := documented[k]; !ok {
			t.Errorf("config key `%s` is not documented: add a row | `%s` | default | meaning | to the Configuration table in README.md", k, k)
		}
		delete(documented, k)
	}
	for k, line := range documented {
		t.Errorf("README.md:%d: `%s` is documented but config.Config has no such key", line, k)
	}
}

// The shipped default config, with every "#" removed, is exactly the
// built-in defaults, and it names every key.
func TestRenderedConfigIsTheDefaults(t *testing.T) {
	out, err := configdoc.Render(config.Default(), readmeRows(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse("config.yaml", out); err != nil {
		t.Fatalf("the commented file does not load: %v", err)
	}
	live := configdoc.Uncomment(string(out))
	got, err := config.Parse("uncommented.yaml", []byte(live))
	if err != nil {
		t.Fatalf("uncommented file: %v\n%s", err, live)
	}
	// %+v prints nil and empty maps alike, which is the equality we want.
	if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", config.Default()); g != w {
		t.Fatalf("uncommented defaults differ:\n got %s\nwant %s\nfile:\n%s", g, w, out)
	}
	present := yamlKeys(t, live)
	for _, k := range configdoc.Keys(reflect.TypeOf(config.Config{})) {
		item := strings.Contains(k, "[].")
		if !item && !present[k] || item && !strings.Contains(string(out), "#   "+k[strings.LastIndex(k, ".")+1:]+": ") {
			t.Errorf("rendered config does not show %s", k)
		}
	}
}

// yamlKeys lists the key paths of mappings in a YAML document, without
// descending into maps the config treats as values (enroot.conf).
func yamlKeys(t *testing.T, doc string) map[string]bool {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var visit func(n *yaml.Node, prefix string)
	visit = func(n *yaml.Node, prefix string) {
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if prefix != "" {
				p = prefix + "." + p
			}
			out[p] = true
			visit(n.Content[i+1], p)
		}
	}
	visit(n.Content[0], "")
	return out
}
