// Package configdoc ties the config struct to its documentation: it lists
// every key the struct accepts, reads the README's configuration table, and
// renders the commented default config.yaml that the packages ship. The keys
// come from the struct by reflection, so a key added in code and not in the
// docs fails a test instead of going unnoticed.
package configdoc

import (
	"reflect"
	"strings"
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
