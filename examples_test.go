package venusmedic

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRemediationExample: the remediation example passes `check` once the
// files it names exist (they are created here with the modes it requires).
func TestRemediationExample(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"dingtalk.url": 0o600, "dingtalk.secret": 0o600, "wallet.token": 0o600, "wallet.pass": 0o600} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("https://oapi.dingtalk.com/robot/send?access_token=x\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("examples/remediation/venus-medic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rulesDir, _ := filepath.Abs("examples/remediation/rules.d")
	cfg := strings.ReplaceAll(string(b), "/etc/venus-medic/rules.d", rulesDir)
	cfg = strings.ReplaceAll(cfg, "/etc/venus-medic/", dir+"/")
	p := filepath.Join(dir, "venus-medic.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "run", "./cmd/venus-medic", "check", "--config", p).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "SUCCESS: ") {
		t.Fatalf("check: %v\n%s", err, out)
	}
}
