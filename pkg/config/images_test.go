package config

import (
	"strings"
	"testing"
)

func TestImagesWiresTheImporter(t *testing.T) {
	c, err := Parse("config.yaml", []byte("images:\n  cache: true\n  max_size: 500G\n  prepull: [\"123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello:v1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Pyxis.Args["importer"] != "/usr/bin/enroot-agent" || c.Images.MaxSize != 500e9 {
		t.Fatalf("args %v, max %v", c.Pyxis.Args, c.Images.MaxSize)
	}
	off, _ := Parse("config.yaml", nil)
	if _, set := off.Pyxis.Args["importer"]; set {
		t.Fatal("importer wired with the cache off")
	}
	_, err = Parse("config.yaml", []byte("pyxis:\n  version: 0.20.0\nimages:\n  cache: true\n  max_size: lots\n  import_user: root\n  prepull: [\"dockerd://x\"]\n"))
	for _, want := range []string{
		`config.yaml:4: images.cache: needs Pyxis 0.21.0 or newer`,
		`config.yaml:5: images.max_size: "lots" is not a size`,
		`config.yaml:6: images.import_user: "root" is not an unprivileged user`,
		`config.yaml:7: images.prepull[0]: "dockerd://x" is not a docker:// image`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
