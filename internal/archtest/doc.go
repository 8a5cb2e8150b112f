// Package archtest holds no code: its test enforces herz's dependency
// direction (ARCHITECTURE.md) by reading `go list -deps`.
package archtest
