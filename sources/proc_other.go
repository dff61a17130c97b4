//go:build !unix

package sources

import (
	"os"
	"os/exec"
)

var (
	sigTerm = os.Kill
	sigKill = os.Kill
)

// setGroup has no process groups to set up on this system.
func setGroup(cmd *exec.Cmd) {}

// signalGroup stops the command itself: there are no process groups here.
func signalGroup(cmd *exec.Cmd, sig os.Signal) {
	if cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}
