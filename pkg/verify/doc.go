// Package verify is the check framework: a check looks at the node without
// changing it and answers ok, fail or unknown, with what is wrong and how to
// fix it; RunAll evaluates checks concurrently under a deadline, and Cache
// shares one evaluation among concurrent callers. The checks themselves live
// in their domain packages beside the steps (install, pyxis, credentials);
// pkg/agent assembles the list, serves it, exports it and drains on it.
//
// verify.go is a check and its result, and running a list of them; cache.go
// is the Cache the daemon serves from; table.go prints a report as
// `enroot-agent verify` does; client.go asks the daemon for its report over
// the root-only socket. The last two are here, beside Report, so that the
// small front binary (cmd/enroot-agent-front) prints and asks without
// linking the agent.
package verify
