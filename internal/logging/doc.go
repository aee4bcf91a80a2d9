// Package logging builds the agent's zap logger.
package logging
