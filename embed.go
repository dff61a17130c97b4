// Package venusmedic holds what is built into the venus-medic binary: the
// shipped rules (rules.d) and the default configuration used when no
// configuration file exists.
package venusmedic

import (
	"embed"
	"io/fs"
	"path"
)

//go:embed rules.d/*.yaml
var rulesFS embed.FS

// DefaultConfig is the embedded default configuration (examples/default.yaml).
//
//go:embed examples/default.yaml
var DefaultConfig []byte

// DefaultConfigName is the name the embedded configuration has in messages.
const DefaultConfigName = "(embedded)/venus-medic.yaml"

// BuiltinRules returns the shipped rule files, by their path in the repository.
func BuiltinRules() map[string][]byte {
	out := map[string][]byte{}
	ents, _ := fs.ReadDir(rulesFS, "rules.d")
	for _, e := range ents {
		b, err := rulesFS.ReadFile(path.Join("rules.d", e.Name()))
		if err == nil {
			out[path.Join("rules.d", e.Name())] = b
		}
	}
	return out
}
