package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/enroot-agent/enroot-agent/internal/lazyre"
	"go.yaml.in/yaml/v3"
)

// Limits that keep an error readable whatever the file holds.
const (
	maxQuoted = 200 // a value quoted into a message
	maxPath   = 160 // a YAML path (keys are the file's too)
	maxMsg    = 400 // a whole message
)

// document parses data as exactly one YAML document: a second one would be
// ignored by a plain decoder, and what it says would silently not count.
// nil means an empty file.
func (p *problems) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, p.syntax(data, err)
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case errors.Is(err, io.EOF):
		return &root, nil
	case err != nil:
		return nil, p.syntax(data, err)
	}
	return nil, Errors{{File: p.file, Line: max(second.Line, 1),
		Msg: "a second YAML document (after ---): the config is one document; merge them"}}
}

var yamlLine = lazyre.New(`^yaml: line ([0-9]+): (.*)$`)

// syntax turns the YAML library's error into file:line: message. The library
// names no line for an error on the first line, nor for a byte it cannot
// read or an unknown anchor; those lines are found here.
func (p *problems) syntax(data []byte, err error) error {
	text, _, _ := strings.Cut(err.Error(), "\n")
	msg, line := strings.TrimPrefix(text, "yaml: "), 0
	if m := yamlLine.FindStringSubmatch(text); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		line = lineOf(data, offending(data, msg))
	}
	return Errors{{File: p.file, Line: max(line, 1), Msg: clip(msg, maxMsg)}}
}

// offending is the offset of what msg complains about, or -1.
func offending(data []byte, msg string) int {
	switch {
	case strings.Contains(msg, "UTF-8") || strings.Contains(msg, "UTF-16"):
		return invalidUTF8(data)
	case strings.Contains(msg, "control characters"):
		return bytes.IndexFunc(data, func(r rune) bool { return !printable(r) })
	case strings.HasPrefix(msg, "unknown anchor '"):
		name, _, _ := strings.Cut(strings.TrimPrefix(msg, "unknown anchor '"), "'")
		return bytes.Index(data, []byte("*"+name))
	}
	return -1
}

func invalidUTF8(data []byte) int {
	for off := 0; off < len(data); {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size == 1 {
			return off
		}
		off += size
	}
	return -1
}

// printable is YAML 1.1's set of characters a stream may hold.
func printable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return true
	case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
		return false
	case r >= 0xd800 && r < 0xe000 || r == 0xfeff || r == 0xfffe || r == 0xffff:
		return false
	}
	return true
}

// lineOf is the 1-based line of offset off; line 1 when off is unknown.
func lineOf(data []byte, off int) int {
	if off < 0 {
		return 1
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// clip cuts s to about n bytes at a rune boundary, saying how long it was.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

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

// Duration is a time.Duration written the Go way in YAML: "6h", "90m".
type Duration time.Duration

func (d *Duration) decodeNode(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%q is not a duration (write it like 6h or 90m)", n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// Mode is a file mode written in octal in YAML: "0600". Quote it: YAML reads
// an unquoted 0600 as the octal integer 384, which is accepted as well.
type Mode os.FileMode

func (m *Mode) decodeNode(n *yaml.Node) error {
	v, err := strconv.ParseUint(n.Value, 8, 32)
	if n.Tag == "!!int" && err != nil {
		v, err = strconv.ParseUint(n.Value, 0, 32)
	}
	if err != nil || v > 0o7777 {
		return fmt.Errorf("%q is not a file mode (write it in octal, like \"0600\")", n.Value)
	}
	*m = Mode(v)
	return nil
}

// FileMode returns the value as an os.FileMode.
func (m Mode) FileMode() os.FileMode { return os.FileMode(m) }

func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }
