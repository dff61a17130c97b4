//go:build unix

package actions

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup starts the command in a process group of its own, and
// makes the context's end kill the whole group: the command and every
// child it started that stayed in the group.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
