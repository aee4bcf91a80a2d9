package install

import (
	"errors"
	"testing"
)

// A prerequisite that a declared dependency already names is listed once,
// with what declares it; the others follow as prerequisites. The error
// gives every item and the command to install them by hand.
func TestDepsErrorNamesEverything(t *testing.T) {
	deps := []MissingDep{
		{Need: "jq (>= 1.5)", By: "enroot 4.1.2-1", Install: "jq"},
		{Need: "bsdmainutils", By: "enroot 4.1.2-1", Install: "bsdmainutils"},
	}
	all := withPrereqs(deps, []string{"squashfs-tools", "jq", "pigz"})
	err := &DepsError{Missing: all, Frontend: "apt-get", Cause: errors.New("E: Unable to locate package jq")}
	want := "nothing was installed: Enroot needs jq (>= 1.5) (needed by enroot 4.1.2-1), bsdmainutils (needed by enroot 4.1.2-1), " +
		"squashfs-tools (an Enroot prerequisite), pigz (an Enroot prerequisite), which this node lacks and apt-get could not install; " +
		"make a package repository (or a mirror) reachable, or bake them into the image (apt-get install jq bsdmainutils squashfs-tools pigz): " +
		"E: Unable to locate package jq"
	if err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err, want)
	}
	if len(deps) != 2 {
		t.Fatal("withPrereqs changed its argument")
	}
}
