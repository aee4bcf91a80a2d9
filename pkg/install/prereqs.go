package install

import (
	"context"
	"fmt"
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/converge"
	"go.uber.org/zap"
)

// Prerequisites are the packages Enroot calls at run time; the names are the
// same in the dnf/yum and apt worlds. curl is checked by what provides it,
// so curl-minimal (Amazon Linux 2023, EL9) counts.
var Prerequisites = []string{"squashfs-tools", "jq", "parallel", "pigz", "zstd", "curl"}

// gpuTools gives enroot's NVIDIA hook nvidia-container-cli.
const gpuTools = "libnvidia-container-tools"

// PrereqStep installs missing prerequisites from the distribution's
// repositories, and nothing when all are present. It runs after the
// packages: a package install brings the missing prerequisites in the same
// command as the packages' own dependencies (so an air-gapped node learns
// everything it lacks from one error), and this step keeps them installed
// on a node whose Enroot is current.
type PrereqStep struct{ Node *Node }

func (s *PrereqStep) Name() string { return StepPrereqs }

// Requires the packages: when they failed, the error named the missing
// prerequisites already.
func (s *PrereqStep) Requires() []string { return []string{StepPackages} }

func (s *PrereqStep) Plan(ctx context.Context) (*converge.Plan, error) {
	pm, err := s.Node.PackageManager()
	if err != nil {
		return nil, err
	}
	missing, err := missingPrereqs(ctx, s.Node, pm)
	if err != nil || len(missing) == 0 {
		return &converge.Plan{}, err
	}
	var changes []converge.Change
	for _, c := range pm.InstallCmds(missing) {
		changes = append(changes, converge.Change{Action: "run", Target: c.String()})
	}
	return converge.NewPlan("missing: "+strings.Join(missing, ", "), changes,
		func(ctx context.Context) error { return s.install(ctx, missing) }), nil
}

// missingPrereqs lists the prerequisites the node lacks, and the GPU tools
// when the node has a GPU and a repository offers them.
func missingPrereqs(ctx context.Context, node *Node, pm PackageManager) ([]string, error) {
	var missing []string
	for _, name := range Prerequisites {
		ok, err := pm.Provided(ctx, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			missing = append(missing, name)
		}
	}
	gpu, err := missingGPUTools(ctx, node, pm)
	if err != nil {
		return nil, err
	}
	if gpu != "" {
		missing = append(missing, gpu)
	}
	return missing, nil
}

// missingGPUTools names libnvidia-container-tools when the node has a GPU, lacks
// the tools, and a repository offers them (NVIDIA's repo is not everywhere).
func missingGPUTools(ctx context.Context, node *Node, pm PackageManager) (string, error) {
	if !node.HasGPU() {
		return "", nil
	}
	if ok, err := pm.Provided(ctx, gpuTools); ok || err != nil {
		return "", err
	}
	if ok, _ := pm.Available(ctx, gpuTools); !ok {
		node.Log.Warn("GPU present but no repository offers "+gpuTools+"; enroot's NVIDIA hook will not work until it is installed",
			zap.String("package", gpuTools))
		return "", nil
	}
	return gpuTools, nil
}

func (s *PrereqStep) install(ctx context.Context, missing []string) error {
	pm, err := s.Node.PackageManager()
	if err != nil {
		return err
	}
	for _, c := range pm.InstallCmds(missing) {
		if err := pm.Run(ctx, c); err != nil {
			return fmt.Errorf("could not install %s (if this node has no package repository, bake them into the image or point it at a mirror): %w",
				strings.Join(missing, ", "), err)
		}
	}
	return nil
}
