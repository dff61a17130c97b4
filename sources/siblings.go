package sources

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

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
