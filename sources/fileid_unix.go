//go:build unix

package sources

import (
	"os"
	"syscall"
)

// identify returns the identity of the file described by fi and its number
// of links (0 once it has been deleted while still open).
func identify(fi os.FileInfo) (fileID, uint64) {
	if fi == nil {
		return fileID{}, 0
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, 1
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, uint64(st.Nlink)
}
