// Package serve is what the daemon shows the outside: the HTTP endpoints
// (/verify, /healthz, /metrics) on verify.listen and on the root-only
// socket the CLI and the front binary ask (verify.Ask), and the Prometheus metrics.
//
// It holds no loop state: the daemon (pkg/agent) hands it the check cache,
// a liveness function and the snapshots the metrics read at scrape time,
// so a scrape or a probe storm never runs a check or an ECR call beyond
// what the cache allows. server.go is the listeners and the client;
// metrics.go the registry and the collectors.
package serve
