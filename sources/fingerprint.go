package sources

import (
	"bytes"
	"os"
)

// fpSize is how many leading bytes of a file identify its content.
const fpSize = 1024

// fingerprint is what a file's content starts with: the length of its
// leading run of NUL bytes (the hole a copytruncated file starts with when
// its writer kept its offset) and up to fpSize bytes after it. Comparing
// fingerprints tells a file whose content was replaced (truncated and
// written again) from one that only grew, and finds the rotated copy of a
// truncated file among its siblings.
type fingerprint struct {
	Lead int64  `json:"lead,omitempty"`
	Data []byte `json:"data,omitempty"`
}

// check reports whether f, now size bytes long, still starts with fp.
// When it does and more of the first bytes exist now, fp grows to cover
// them (changed is then true). scratch must hold at least fpSize bytes.
func (fp *fingerprint) check(f *os.File, size int64, scratch []byte) (ok, changed bool) {
	if size < fp.Lead+int64(len(fp.Data)) {
		return false, false
	}
	if fp.Lead > 0 {
		if _, err := f.ReadAt(scratch[:1], fp.Lead-1); err != nil || scratch[0] != 0 {
			return false, false
		}
	}
	if len(fp.Data) == 0 {
		if lead := firstNonNUL(f, fp.Lead, size); lead != fp.Lead {
			fp.Lead, changed = lead, true
		}
		if fp.Lead >= size {
			return true, changed
		}
	}
	want := min(int64(fpSize), size-fp.Lead)
	if int64(len(fp.Data)) >= want {
		// Nothing new to learn: compare what we have.
		want = int64(len(fp.Data))
	}
	n, _ := f.ReadAt(scratch[:want], fp.Lead)
	b := scratch[:n]
	if !bytes.HasPrefix(b, fp.Data) {
		return false, false
	}
	if len(b) > len(fp.Data) {
		fp.Data = append([]byte(nil), b...)
		changed = true
	}
	return true, changed
}

// matches reports whether the file at path starts with fp (fp is not changed).
func (fp fingerprint) matches(path string, size int64, scratch []byte) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	c := fingerprint{Lead: fp.Lead, Data: fp.Data}
	ok, _ := c.check(f, size, scratch)
	return ok
}

// firstNonNUL returns the offset of the first byte at or after from that
// is not NUL, or size when there is none. Holes are skipped without
// reading them.
func firstNonNUL(f *os.File, from, size int64) int64 {
	var buf []byte
	for from < size {
		d, more := seekData(f, from)
		if !more {
			return size
		}
		from = d
		if from >= size {
			return size
		}
		if buf == nil {
			buf = make([]byte, 64<<10)
		}
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-from)], from)
		for i, c := range buf[:n] {
			if c != 0 {
				return from + int64(i)
			}
		}
		from += int64(n)
		if err != nil || n == 0 {
			break
		}
	}
	return size
}
