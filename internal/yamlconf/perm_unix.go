//go:build unix

package yamlconf

import (
	"fmt"
	"os"
	"syscall"
)

// CheckPerm refuses a file or directory that makes the daemon act
// (configuration, rules) when someone other than its owner and root can
// write it (SPEC §6). what names it in the message ("rule file").
func CheckPerm(path, what string) error {
	st, err := os.Stat(path)
	if err != nil {
		return nil // reported when the file is read
	}
	mode := st.Mode().Perm()
	if mode&0o002 != 0 {
		return fmt.Errorf("refusing %s: writable by everyone (chmod o-w %s)", what, path)
	}
	if mode&0o020 != 0 {
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || sys.Gid != 0 {
			return fmt.Errorf("refusing %s: writable by its group (chmod g-w %s)", what, path)
		}
	}
	return nil
}
