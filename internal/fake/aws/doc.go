// Package aws emulates the AWS endpoints the agent calls, as small HTTP
// servers on 127.0.0.1 that the real aws-sdk-go-v2 clients reach over real
// HTTP through the SDK's own endpoint variables (AWS_ENDPOINT_URL_ECR,
// AWS_EC2_METADATA_SERVICE_ENDPOINT, ...): the instance metadata service
// (IMDSv2 only), ECR's and ECR Public's GetAuthorizationToken, STS
// AssumeRole, Secrets Manager and SSM reads, and S3 GetObject. They check
// what the real services check that matters to the agent (a SigV4
// signature's scope, a session token) and count calls, so tests can prove
// who signed what and how often. ConnectProxy tunnels an AWS host name's
// port 443 to a local server, so a client reaches a stand-in under the
// production name without /etc/hosts.
//
// Env and CleanEnv aim a process's SDK at the emulators and away from a
// developer's own credentials.
package aws
