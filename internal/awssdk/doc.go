// Package awssdk is every call enroot-agent makes to AWS, through the real
// aws-sdk-go-v2 clients: ECR and ECR Public tokens, STS AssumeRole for a
// registry's role, Secrets Manager and SSM Parameter Store values, the
// instance identity document (IMDSv2), and S3 GetObject for package
// downloads. It runs in the AWS helper, cmd/enroot-agent-aws, which answers
// one request of package awswire per process (Serve); the agent itself
// links no SDK (package awsproc says why). The boot-storm benchmark uses
// Source in-process.
//
// Endpoints and credentials follow the SDK's standard settings: the
// instance profile through IMDSv2 on a node, AWS_ENDPOINT_URL_<SERVICE> and
// AWS_EC2_METADATA_SERVICE_ENDPOINT to reach a mirror or, in tests, the
// emulators of internal/fake/aws.
//
// source.go is the token, secret and identity calls; retry.go the retryer
// that keeps a throttled call going until its deadline; s3.go GetObject and
// how its failures are sorted; serve.go one request's answer.
package awssdk
