// Command genconfig prints the commented default config.yaml that the rpm
// and deb install as /etc/enroot-agent/config.yaml: the built-in defaults
// from pkg/config, each key explained by its row in the README's table. It is
// generated at build time so it can never fall behind the code.
package main

import (
	"fmt"
	"os"

	"github.com/enroot-agent/enroot-agent/internal/configdoc"
	"github.com/enroot-agent/enroot-agent/pkg/config"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "genconfig:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: genconfig README.md > config.yaml")
	}
	md, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	rows, err := configdoc.ParseTable(string(md), "## Configuration")
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	out, err := configdoc.Render(config.Default(), rows)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}
