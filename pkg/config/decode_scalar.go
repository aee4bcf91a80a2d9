package config

import (
	"reflect"
	"strconv"

	"go.yaml.in/yaml/v3"
)

func (p *problems) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if !p.expect(n, yaml.ScalarNode, path) {
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Tag != "!!bool" || n.Decode(&b) != nil {
			p.addf(path, "%q is not a boolean (use true or false)", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			p.addf(path, "%q is not an integer", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			p.addf(path, "%q is not a number", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		// A Config field of a type this decoder does not know is our bug;
		// say so instead of silently keeping the default.
		p.addf(path, "internal error: no decoder for %s", v.Type())
	}
}

func (p *problems) expect(n *yaml.Node, k yaml.Kind, path string) bool {
	if n.Kind != k {
		p.addf(path, "expected %s, found %s", kindName(k), kindName(n.Kind))
	}
	return n.Kind == k
}

// kindName says what a YAML node is, in an admin's words.
func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return ""
}
