// Package backoff is the one retry-delay formula of the agent: capped
// exponential growth, and a random spread so that nodes that failed
// together (an outage, a shared lock) do not retry together.
package backoff
