package sources

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// fpSize is how many leading bytes of a file identify its content.
const fpSize = 1024

// fileID identifies a file independently of its name: device and inode.
type fileID struct{ dev, ino uint64 }

// String returns the "dev:inode" form used in event.Line.FileID.
func (id fileID) String() string { return fmt.Sprintf("%d:%d", id.dev, id.ino) }

func parseFileID(s string) (fileID, error) {
	var id fileID
	if _, err := fmt.Sscanf(s, "%d:%d", &id.dev, &id.ino); err != nil {
		return fileID{}, fmt.Errorf("file id %q: %w", s, err)
	}
	return id, nil
}

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

// compressedExt are the suffixes of rotated copies that cannot be read as text.
var compressedExt = []string{".gz", ".bz2", ".xz", ".zst", ".lz4", ".lzma", ".lzo", ".Z", ".zip", ".br", ".tgz"}

func compressed(name string) bool {
	for _, ext := range compressedExt {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// isRotationOf reports whether name is what logrotate and similar tools
// call a rotated copy of base: base.1, base.2, base-20261125,
// base.2026-11-25 or, with logrotate's `extension`, stem-20261125.ext;
// each possibly compressed (base.1.gz).
func isRotationOf(base, name string) bool {
	if name == base {
		return false
	}
	for _, ext := range compressedExt {
		if s, ok := strings.CutSuffix(name, ext); ok {
			name = s
			break
		}
	}
	if rest, ok := strings.CutPrefix(name, base); ok && rotationSuffix(rest) {
		return true
	}
	if ext := filepath.Ext(base); ext != "" && ext != base {
		stem := strings.TrimSuffix(base, ext)
		if rest, ok := strings.CutPrefix(name, stem); ok {
			if mid, ok := strings.CutSuffix(rest, ext); ok && rotationSuffix(mid) {
				return true
			}
		}
	}
	return false
}

// rotationSuffix reports whether s is a separator followed by a number or
// a date: ".1", "-20261125", ".2026-11-25", "_2026-11-25T10".
func rotationSuffix(s string) bool {
	if len(s) < 2 || !strings.ContainsRune(".-_", rune(s[0])) || s[1] < '0' || s[1] > '9' {
		return false
	}
	for _, c := range s[2:] {
		if (c < '0' || c > '9') && !strings.ContainsRune(".-_T:", c) {
			return false
		}
	}
	return true
}

// errNotRegular is returned for a path that is not a regular file.
var errNotRegular = errors.New("not a regular file")

// sibling is a regular file found in a directory.
type sibling struct {
	path string
	name string
	fi   os.FileInfo
	id   fileID
}

// siblings lists the regular files of dir whose names keep accepts.
// Renames made while it looks (logrotate shifting NAME.1 to NAME.2, and
// so on) could show a file twice or not at all, so it looks again until
// two looks agree (five looks at most). A file seen under two names is
// listed once.
func siblings(dir string, keep func(name string) bool) []sibling {
	var prev []sibling
	for look := 0; look < 5; look++ {
		cur := listSiblings(dir, keep)
		if look > 0 && sameSiblings(prev, cur) {
			break
		}
		prev = cur
	}
	return prev
}

func listSiblings(dir string, keep func(name string) bool) []sibling {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []sibling
	seen := map[fileID]bool{}
	for _, de := range entries {
		name := de.Name()
		if !keep(name) {
			continue
		}
		q := filepath.Join(dir, name)
		fi, err := os.Stat(q)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		id, _ := identify(fi)
		if seen[id] && id != (fileID{}) {
			continue
		}
		seen[id] = true
		out = append(out, sibling{path: q, name: name, fi: fi, id: id})
	}
	return out
}

func sameSiblings(a, b []sibling) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name || a[i].id != b[i].id || a[i].fi.Size() != b[i].fi.Size() {
			return false
		}
	}
	return true
}
