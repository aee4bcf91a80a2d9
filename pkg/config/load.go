package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
)

// Load reads and validates the config at path. A missing file at the default
// path means "all defaults", so a node runs with no config at all; a missing
// file the admin named explicitly is an error.
func Load(path string, explicit bool) (Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return Parse(filepath.Base(path), nil)
	}
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data over the defaults and validates the result. name is
// used in error messages. The returned error is an Errors listing every
// problem with its line, a syntax error included.
func Parse(name string, data []byte) (Config, error) {
	c := Default()
	p := &problems{file: name, lines: map[string]int{}}
	root, err := p.document(data)
	if err != nil {
		return Config{}, err
	}
	if root != nil && len(root.Content) > 0 {
		p.decode(root, reflect.ValueOf(&c).Elem(), "")
	}
	p.validate(&c)
	if err := p.err(); err != nil {
		return Config{}, err
	}
	// Every consumer of the Pyxis line (the plugstack step, its check, the
	// restart record) sees the importer the cache needs.
	c.Pyxis.Args = c.PyxisArgs()
	return c, nil
}
