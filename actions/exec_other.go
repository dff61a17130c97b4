//go:build !unix

package actions

import "os/exec"

// ownProcessGroup is a no-op where there are no process groups: the
// context's end kills the command alone.
func ownProcessGroup(*exec.Cmd) {}
