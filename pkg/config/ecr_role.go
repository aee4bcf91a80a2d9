package config

import (
	"fmt"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// roleARN is an IAM role in any partition: arn:<partition>:iam::<account>:role/<path/name>.
var roleARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)

// decodeNode accepts the plain host (how ecr.registries was always written)
// or a mapping {host, role_arn} for a registry in another account whose
// pulls need a role assumed there.
func (r *Registry) decodeNode(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		parsed, err := ParseRegistry(n.Value)
		if err != nil {
			return err
		}
		*r = parsed
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("expected a registry host or a mapping {host, role_arn}")
	}
	var host, role string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: expected a single value", v.Line, k.Value)
		}
		switch k.Value {
		case "host":
			host = v.Value
		case "role_arn":
			role = v.Value
		default:
			return fmt.Errorf("line %d: unknown key %q (known: host, role_arn)", k.Line, k.Value)
		}
	}
	parsed, err := ParseRegistry(host)
	if err != nil {
		return err
	}
	if role != "" && !roleARN.MatchString(role) {
		return fmt.Errorf("role_arn %q is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)", clip(role, maxQuoted))
	}
	parsed.RoleARN = role
	*r = parsed
	return nil
}
