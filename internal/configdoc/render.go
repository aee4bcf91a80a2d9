package configdoc

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Keys lists every key path the struct type accepts, in field order, the way
// the config's error messages spell them: "enroot.version". A list whose items
// are structs is a key itself, and its items' keys are spelled
// "credentials.files[].path". Sections (structs with keys) are not keys;
// maps and value types such as Duration or Registry are leaves.
func Keys(t reflect.Type) []string {
	var out []string
	walk(t, "", func(path string, _ []int) { out = append(out, path) })
	return out
}

// walk calls fn for every key under t with its path and field index.
func walk(t reflect.Type, prefix string, fn func(path string, index []int)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		path := join(prefix, name)
		switch {
		case isSection(f.Type):
			walk(f.Type, path, func(p string, idx []int) { fn(p, append([]int{i}, idx...)) })
		case f.Type.Kind() == reflect.Slice && isSection(f.Type.Elem()):
			fn(path, []int{i})
			walk(f.Type.Elem(), path+"[]", func(p string, _ []int) { fn(p, nil) })
		default:
			fn(path, []int{i})
		}
	}
}

// isSection reports whether t is a struct written as a YAML mapping of keys.
// A struct with no yaml-tagged field (Registry) is a scalar value.
func isSection(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := 0; i < t.NumField(); i++ {
		if yamlName(t.Field(i)) != "" {
			return true
		}
	}
	return false
}

func yamlName(f reflect.StructField) string {
	name := strings.Split(f.Tag.Get("yaml"), ",")[0]
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// Header opens the rendered config. It states the one rule the file follows,
// which is also how the tests read it back.
const Header = `# enroot-agent configuration. Every key is optional; the values shown are
# the built-in defaults. A line that starts with "#" directly followed by the
# key (or by an even number of spaces and the key) is a setting: remove the "#"
# to change it. Lines that start with "# " are explanations.
# Check your edits with: enroot-agent validate
# Reference: the Configuration section of the README.
`

// Render writes v (normally config.Default()) as a fully commented YAML file,
// each key preceded by its meaning from the documentation table.
func Render(v any, rows []Row) ([]byte, error) {
	doc := map[string]Row{}
	for _, r := range rows {
		doc[r.Key] = r
	}
	var b strings.Builder
	b.WriteString(Header)
	err := renderStruct(&b, reflect.ValueOf(v), "", 0, doc)
	return []byte(b.String()), err
}

func renderStruct(b *strings.Builder, v reflect.Value, prefix string, depth int, doc map[string]Row) error {
	indent := strings.Repeat("  ", depth)
	for i := 0; i < v.NumField(); i++ {
		f, name := v.Type().Field(i), yamlName(v.Type().Field(i))
		if name == "" {
			continue
		}
		path := join(prefix, name)
		if depth == 0 {
			b.WriteString("\n")
		}
		if isSection(f.Type) {
			fmt.Fprintf(b, "#%s%s:\n", indent, name)
			if err := renderStruct(b, v.Field(i), path, depth+1, doc); err != nil {
				return err
			}
			continue
		}
		comment(b, indent, doc[path].Meaning)
		if f.Type.Kind() == reflect.Slice && isSection(f.Type.Elem()) {
			itemDocs(b, indent, f.Type.Elem(), path, doc)
		}
		val, err := render(v.Field(i), indent)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintf(b, "#%s%s:%s\n", indent, name, val)
	}
	return nil
}

// itemDocs explains the keys of a list's items, which have no default.
func itemDocs(b *strings.Builder, indent string, t reflect.Type, path string, doc map[string]Row) {
	fmt.Fprintf(b, "%s# each item has:\n", indent)
	walk(t, path+"[]", func(p string, _ []int) {
		comment(b, indent, "  "+strings.TrimPrefix(p, path+"[].")+": "+doc[p].Meaning)
	})
}

// width is where explanations wrap, so the file reads well in an 80-column
// terminal.
const width = 78

// comment writes an explanation wrapped at width; a first line starting
// with spaces (an item key) keeps them, and its continuation lines line up.
func comment(b *strings.Builder, indent, meaning string) {
	words := strings.Fields(strings.ReplaceAll(meaning, "`", ""))
	if len(words) == 0 {
		return
	}
	lead := indent + "# " + meaning[:len(meaning)-len(strings.TrimLeft(meaning, " "))]
	line := lead + words[0]
	cont := strings.Repeat(" ", len(lead)-len(indent)-2)
	if cont != "" {
		cont += "  " // under an item key, not beside it
	}
	for _, w := range words[1:] {
		if len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent + "# " + cont + w
			continue
		}
		line += " " + w
	}
	b.WriteString(line + "\n")
}

// render returns the value as it follows "key:", a leading space included.
func render(v reflect.Value, indent string) (string, error) {
	switch x := v.Interface().(type) {
	case fmt.Stringer:
		if d, ok := v.Interface().(interface{ D() time.Duration }); ok {
			return " " + duration(d.D()), nil
		}
		return " " + scalar(x.String()), nil
	}
	switch v.Kind() {
	case reflect.Map:
		return renderMap(v, indent)
	case reflect.Slice:
		return renderList(v)
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
		return " " + scalar(v.Interface()), nil
	}
	return "", fmt.Errorf("cannot render a %s", v.Type())
}

func renderMap(v reflect.Value, indent string) (string, error) {
	if v.Len() == 0 {
		return " {}", nil
	}
	keys := make([]string, 0, v.Len())
	for _, k := range v.MapKeys() {
		keys = append(keys, k.String())
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		val, err := render(v.MapIndex(reflect.ValueOf(k)), indent+"  ")
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "\n#%s  %s:%s", indent, scalar(k), val)
	}
	return b.String(), nil
}

func renderList(v reflect.Value) (string, error) {
	items := make([]string, v.Len())
	for i := range items {
		s, err := render(v.Index(i), "")
		if err != nil || strings.Contains(s, "\n") {
			return "", fmt.Errorf("cannot render item %d of a list on one line", i)
		}
		items[i] = strings.TrimSpace(s)
	}
	return " [" + strings.Join(items, ", ") + "]", nil
}

// scalar writes a YAML scalar, quoted where YAML would read it otherwise.
func scalar(x any) string {
	out, err := yaml.Marshal(x)
	if err != nil {
		return fmt.Sprintf("%q", fmt.Sprint(x))
	}
	return strings.TrimSuffix(string(out), "\n")
}

// duration drops the zero units Go prints: 6h0m0s becomes 6h.
func duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// setting matches a commented-out setting: "#" directly followed by an even
// number of spaces and a non-space. An explanation ("# text") has one space.
var setting = regexp.MustCompile(`^#((?:  )*)(\S.*)$`)

// Uncomment turns every commented-out setting of a rendered file into a live
// one and drops the explanations: what an admin gets by removing every "#".
func Uncomment(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if m := setting.FindStringSubmatch(l); m != nil && !strings.HasPrefix(m[2], "#") {
			b.WriteString(m[1] + m[2] + "\n")
		}
	}
	return b.String()
}
