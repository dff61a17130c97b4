package event

// Component names used by shipped rules as source names (SPEC §4), and the
// older names operators may still use for them.
var aliases = map[string]string{
	"venus-messager":       "sophon-messager",
	"venus-gateway":        "sophon-gateway",
	"venus-miner":          "sophon-miner",
	"venus-auth":           "sophon-auth",
	"venus-market":         "droplet",
	"venus-cluster":        "damocles-manager",
	"venus-sector-manager": "damocles-manager",
}

// Components lists the canonical component names.
var Components = []string{
	"venus", "venus-wallet", "venus-sealer", "damocles-manager", "damocles-worker",
	"sophon-messager", "sophon-gateway", "sophon-miner", "sophon-auth", "droplet",
}

// CanonicalSource maps an older component name to its current one and
// returns any other name unchanged.
func CanonicalSource(name string) string {
	if c, ok := aliases[name]; ok {
		return c
	}
	return name
}

// IsComponent reports whether name is a Venus component name, current or older.
func IsComponent(name string) bool {
	c := CanonicalSource(name)
	for _, k := range Components {
		if k == c {
			return true
		}
	}
	return false
}
