// Package config defines the agent's configuration: its types, the defaults
// that suit an AWS ParallelCluster compute node, loading from YAML with line
// numbers, and validation. It knows nothing of AWS or of the node's files.
//
//   - config.go: Config, its defaults, Load and Parse, Root (--root), and
//     the converge section;
//   - decode.go: YAML to the structs, every problem with its line: syntax
//     errors, unknown and duplicate keys, scalars, durations and modes;
//   - validate.go: the checks across sections, and FieldError/Errors, how
//     every problem is reported at once;
//   - one file per section of the config: enroot.go, pyxis.go (with the
//     plugstack arguments Pyxis takes), ecr.go (with the registry host
//     grammar), credentials.go (the files and the secret-backed
//     registries), images.go (with image names and sizes), verify.go.
package config
