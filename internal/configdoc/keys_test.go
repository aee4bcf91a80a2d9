package configdoc

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

type item struct {
	Path string `yaml:"path"`
	Mode uint32 `yaml:"mode"`
}

type value struct{ Host string } // no yaml tags: a scalar, like config.Registry

type section struct {
	Name   string            `yaml:"name"`
	Items  []item            `yaml:"items"`
	Tags   map[string]string `yaml:"tags"`
	Hosts  []value           `yaml:"hosts"`
	Wait   time.Duration     `yaml:"wait"`
	hidden string
	Skip   string `yaml:"-"`
}

type root struct {
	Sec   section `yaml:"sec"`
	Value value   `yaml:"value"`
	Top   string  `yaml:"top,omitempty"`
}

func TestKeys(t *testing.T) {
	got := Keys(reflect.TypeOf(root{}))
	want := []string{"sec.name", "sec.items", "sec.items[].path", "sec.items[].mode", "sec.tags", "sec.hosts", "sec.wait", "value", "top"}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	_ = section{}.hidden
}
