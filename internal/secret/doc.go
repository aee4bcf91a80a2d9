// Package secret holds values, such as registry tokens, that must never reach a
// log line, an error message, the verify output or a metric.
package secret
