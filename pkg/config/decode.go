package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// nodeDecoder is implemented by value types that parse their own scalar, such
// as Duration or Registry; the error message is prefixed with the path.
type nodeDecoder interface {
	decodeNode(n *yaml.Node) error
}

// decode walks a YAML node onto v, which already holds the defaults. Unlike
// yaml.Decode it keeps going after a problem, so every mistake in the file is
// reported at once, each with its path and line.
func (p *problems) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	p.lines[path] = n.Line
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if d, ok := v.Addr().Interface().(nodeDecoder); ok {
		if err := d.decodeNode(n); err != nil {
			p.addf(path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		p.decodeStruct(n, v, path)
	case reflect.Map:
		p.decodeMap(n, v, path)
	case reflect.Slice:
		p.decodeSlice(n, v, path)
	default:
		p.decodeScalar(n, v, path)
	}
}

func (p *problems) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if !p.expect(n, yaml.MappingNode, path) {
		return
	}
	fields := map[string]int{}
	for i := 0; i < v.NumField(); i++ {
		if tag := strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			fields[tag] = i
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		sub := join(path, key)
		if p.duplicate(seen, n.Content[i], sub) {
			continue
		}
		idx, ok := fields[key]
		if !ok {
			p.lines[sub] = n.Content[i].Line
			p.addf(sub, "unknown key (known: %s)", known(fields))
			continue
		}
		p.decode(val, v.Field(idx), sub)
	}
}

func (p *problems) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if !p.expect(n, yaml.MappingNode, path) {
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if p.duplicate(seen, n.Content[i], join(path, key)) {
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		if cur := v.MapIndex(reflect.ValueOf(key)); cur.IsValid() {
			elem.Set(cur)
		}
		p.decode(n.Content[i+1], elem, join(path, key))
		v.SetMapIndex(reflect.ValueOf(key), elem)
	}
}

func (p *problems) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if !p.expect(n, yaml.SequenceNode, path) {
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p.decode(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(out)
}

// duplicate reports a key seen before in the same mapping. YAML forbids it,
// and a decoder that let the last one win would hide which value counts.
func (p *problems) duplicate(seen map[string]int, key *yaml.Node, path string) bool {
	first, dup := seen[key.Value]
	if dup {
		p.addAt(key.Line, path, "is set twice (first on line %d); keep one", first)
	} else {
		seen[key.Value] = key.Line
	}
	return dup
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func known(fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
