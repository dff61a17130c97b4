//go:build linux

package sources

import (
	"errors"
	"os"
	"syscall"
)

// seekData returns the offset of the first byte of data at or after off,
// skipping holes (lseek SEEK_DATA); more is false when there is no data
// after off. When the system cannot tell, it returns off and true. A
// copytruncated file whose writer kept its offset starts with such a hole,
// which can be gigabytes long.
func seekData(f *os.File, off int64) (d int64, more bool) {
	const whenceData = 3 // SEEK_DATA
	d, err := f.Seek(off, whenceData)
	switch {
	case errors.Is(err, syscall.ENXIO):
		return off, false
	case err != nil || d < off:
		return off, true
	}
	return d, true
}
