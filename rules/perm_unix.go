//go:build unix

package rules

import (
	"fmt"
	"os"
	"syscall"
)

// checkPerm refuses a rule file or directory that someone other than its
// owner and root can write: rules make the daemon run commands (SPEC §6).
func checkPerm(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return nil // reported when the file is read
	}
	mode := st.Mode().Perm()
	if mode&0o002 != 0 {
		return fmt.Errorf("refusing %s: writable by everyone (chmod o-w %s)", kind(st), path)
	}
	if mode&0o020 != 0 {
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || sys.Gid != 0 {
			return fmt.Errorf("refusing %s: writable by its group (chmod g-w %s)", kind(st), path)
		}
	}
	return nil
}

func kind(st os.FileInfo) string {
	if st.IsDir() {
		return "rules directory"
	}
	return "rule file"
}
