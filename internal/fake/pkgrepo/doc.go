// Package pkgrepo makes the packages and package databases the installer
// works on: real Enroot .deb and .rpm fixtures built with dpkg-deb and
// rpmbuild (with the relations NVIDIA's packages declare), scratch roots
// with real dpkg and rpm databases, apt-get/dnf/yum stubs that install
// from a repository or fail as on an air-gapped node, the Pyxis fixture
// tarball, an HTTP artifact server with injected faults, and the verified
// directory of the real upstream Enroot and Pyxis artifacts.
package pkgrepo
