//go:build !unix

package actions

import "testing"

// waitDead cannot watch processes here: process groups are a unix matter.
func waitDead(t *testing.T, pid int) { t.Skip("process groups are unix only") }
