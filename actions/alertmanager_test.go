package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// alertmanagerBinary is Debian's prometheus-alertmanager package's binary.
const alertmanagerBinary = "/usr/bin/prometheus-alertmanager"

func alertmanagerAction(t *testing.T, src string) (*Configured, *Alertmanager) {
	t.Helper()
	c := buildYAML(t, src, nil)
	a := c.Action.(*Alertmanager)
	return c, a
}

// postedAlerts decodes a POST body of API v2.
func postedAlerts(t *testing.T, g gotRequest) []amAlert {
	t.Helper()
	if g.Path != "/api/v2/alerts" || g.ContentType != "application/json" {
		t.Fatalf("posted to %q as %q", g.Path, g.ContentType)
	}
	var out []amAlert
	dec := json.NewDecoder(bytes.NewReader(g.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("body is not a list of alerts: %v: %s", err, g.Body)
	}
	return out
}

func TestAlertmanagerFiringAndResolution(t *testing.T) {
	rc := newReceiver(t, replyWith(200, ""))
	_, a := alertmanagerAction(t, "type: alertmanager\nurl: "+rc.URL+"/\nresolve_timeout: 2h\nlabels:\n  cluster: f01234\n  hub: '{{ field \"api hub\" }}'\n")
	a.now = func() time.Time { return fixedNow }

	f := firing()
	f.Group = "/dns/gw/tcp/83/wss"
	if _, err := a.Do(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	got := postedAlerts(t, rc.next(t))
	wantLabels := map[string]string{
		"alertname": "wallet-password-not-set", "severity": "critical",
		"host": "miner-01", "source": "venus-wallet", "group": "/dns/gw/tcp/83/wss",
		"cluster": "f01234", "hub": "/dns/gw/tcp/83/wss",
	}
	want := []amAlert{{
		Labels: wantLabels,
		Annotations: map[string]string{
			"summary":     f.Summary,
			"description": f.Event.Line,
			"rule":        "wallet-password-not-set",
			"time":        "2026-11-25T10:21:34.561+08:00",
		},
		StartsAt: "2026-11-25T02:21:34.561Z",
		EndsAt:   "2026-11-25T04:21:40.123Z", // now + resolve_timeout
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("firing (-want +got):\n%s", d)
	}

	// The resolving event comes from another source of the rule, later:
	// the alert is resolved under the labels it was sent with.
	r := firing()
	r.Group = f.Group
	r.Resolved = true
	r.Summary = "venus-wallet signs again"
	r.Event.Source = "venus-wallet-2"
	r.Event.Line = "signed"
	r.Event.Time = f.Event.Time.Add(3 * time.Second)
	if _, err := a.Do(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	got = postedAlerts(t, rc.next(t))
	if len(got) != 1 {
		t.Fatalf("resolution posted %d alerts: %+v", len(got), got)
	}
	if d := cmp.Diff(wantLabels, got[0].Labels); d != "" {
		t.Errorf("resolution labels (-want +got):\n%s", d)
	}
	if got[0].StartsAt != "2026-11-25T02:21:34.561Z" || got[0].EndsAt != "2026-11-25T02:21:37.561Z" {
		t.Errorf("resolution startsAt %s endsAt %s", got[0].StartsAt, got[0].EndsAt)
	}
	if got[0].Annotations["summary"] != "venus-wallet signs again" {
		t.Errorf("resolution annotations %v", got[0].Annotations)
	}

	// Nothing is remembered after the resolution: a second one (after a
	// restart, say) uses the firing's own labels.
	if _, err := a.Do(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	got = postedAlerts(t, rc.next(t))
	if len(got) != 1 || got[0].Labels["source"] != "venus-wallet-2" {
		t.Errorf("second resolution: %+v", got)
	}
}

// TestAlertmanagerLogTextInLabels: log text reaches a label only as one
// value, made valid and capped; an empty value leaves the label out.
func TestAlertmanagerLogTextInLabels(t *testing.T) {
	rc := newReceiver(t, replyWith(200, ""))
	_, a := alertmanagerAction(t, "type: alertmanager\nurl: "+rc.URL+"\nlabels:\n  deadline: '{{ capture \"deadline\" }}'\n  empty: '{{ capture \"nothing\" }}'\n")
	a.now = func() time.Time { return fixedNow }
	f := hostile()
	f.Event.Captures = map[string]string{"deadline": "7\"}, {\"labels\": {\"alertname\": \"x\"}}\n\xff" + strings.Repeat("z", 5000)}
	f.Event.Time = fixedNow.Add(time.Hour) // a clock ahead of ours
	if _, err := a.Do(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	got := postedAlerts(t, rc.next(t))
	if len(got) != 1 {
		t.Fatalf("%d alerts", len(got))
	}
	l := got[0].Labels
	if l["alertname"] != f.Rule || !strings.HasPrefix(l["deadline"], "7\"}, {\"labels\"") || !strings.HasSuffix(l["deadline"], "…[cut]") {
		t.Errorf("labels %q", l)
	}
	if _, ok := l["empty"]; ok {
		t.Errorf("empty label sent: %q", l)
	}
	if got[0].StartsAt != stamp(fixedNow) {
		t.Errorf("startsAt %s: a future event time must be clamped to now", got[0].StartsAt)
	}
	if n := len(got[0].Annotations["description"]); n > maxAlertAnnotation+len("…[cut]") {
		t.Errorf("description of %d bytes", n)
	}
}

func TestAlertmanagerRefusalIsNotRetried(t *testing.T) {
	rc := newReceiver(t, replyWith(400, `"start time must be before end time"`))
	c, _ := alertmanagerAction(t, "type: alertmanager\nurl: "+rc.URL+"\n")
	d, audit := dispatcher(t, map[string]*Configured{"ops": c})
	d.Dispatch(fire("r1", "ops"))
	r := audit.next(t)
	if r.Outcome != OutcomeFailed || r.Attempts != 1 {
		t.Fatalf("record %+v", r)
	}
	if !strings.Contains(r.Err, "HTTP 400") || !strings.Contains(r.Err, "start time must be before end time") {
		t.Errorf("error does not carry Alertmanager's reason: %s", r.Err)
	}
	if rc.count() != 1 {
		t.Errorf("%d requests; a refusal must not be retried", rc.count())
	}
}

func TestAlertmanagerServerErrorIsRetried(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n < 3 {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `"failed to create alerts"`)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	c, _ := alertmanagerAction(t, "type: alertmanager\nurl: "+rc.URL+"\n")
	d, audit := dispatcher(t, map[string]*Configured{"ops": c})
	d.Dispatch(fire("r1", "ops"))
	r := audit.next(t)
	if r.Outcome != OutcomeOK || r.Attempts != 3 || rc.count() != 3 {
		t.Fatalf("record %+v after %d requests", r, rc.count())
	}
}

// TestAlertmanagerHAPair: every Alertmanager of the list gets the alert;
// one taking it is enough.
func TestAlertmanagerHAPair(t *testing.T) {
	down := newReceiver(t, replyWith(503, "unavailable"))
	up := newReceiver(t, replyWith(200, ""))
	u, _ := url.Parse(down.URL)
	u.User = url.UserPassword("ops", token)
	withCreds := u.String()

	c, _ := alertmanagerAction(t, "type: alertmanager\nurl: ["+withCreds+", "+up.URL+"]\n")
	d, audit := dispatcher(t, map[string]*Configured{"ops": c})
	d.Dispatch(fire("r1", "ops"))
	r := audit.next(t)
	if r.Outcome != OutcomeOK || r.Attempts != 1 {
		t.Fatalf("record %+v", r)
	}
	postedAlerts(t, down.next(t))
	postedAlerts(t, up.next(t))
	if !strings.Contains(r.Output, "HTTP 503") || !strings.Contains(r.Output, "accepted") || strings.Contains(r.Output, token) {
		t.Errorf("output %q", r.Output)
	}

	// Both down: failed after the retries, without the credentials.
	gone := newReceiver(t, nil)
	gone.Close()
	c2, _ := alertmanagerAction(t, "type: alertmanager\nretries: 1\nurl: ["+withCreds+", "+gone.URL+"]\n")
	d2, audit2 := dispatcher(t, map[string]*Configured{"ops": c2})
	d2.Dispatch(fire("r2", "ops"))
	r = audit2.next(t)
	if r.Outcome != OutcomeFailed || r.Attempts != 2 {
		t.Fatalf("record %+v", r)
	}
	for _, s := range []string{token, "ops:"} {
		if strings.Contains(r.Err, s) || strings.Contains(r.Output, s) {
			t.Errorf("record shows credentials: %+v", r)
		}
	}
	if !strings.Contains(r.Err, "HTTP 503") || !strings.Contains(r.Err, "connect") {
		t.Errorf("error %q should say how each failed", r.Err)
	}

	// One refuses, one is unreachable: worth retrying (the other may come back).
	bad := newReceiver(t, replyWith(400, `"bad"`))
	_, a3 := alertmanagerAction(t, "type: alertmanager\nurl: ["+bad.URL+", "+gone.URL+"]\n")
	retry, err := a3.Do(context.Background(), firing())
	if err == nil || !retry {
		t.Errorf("retry %v err %v", retry, err)
	}
}

func TestAlertsEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"http://am:9093":                      "http://am:9093/api/v2/alerts",
		"http://am:9093/":                     "http://am:9093/api/v2/alerts",
		"https://u:p@am.example/alertmanager": "https://u:p@am.example/alertmanager/api/v2/alerts",
		"http://am:9093/api/v2/alerts":        "http://am:9093/api/v2/alerts",
		"http://am:9093/x/?tenant=a":          "http://am:9093/x/api/v2/alerts?tenant=a",
	} {
		if got := alertsEndpoint(in); got != want {
			t.Errorf("alertsEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

// freePort returns a loopback port free at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startAlertmanager starts a real Alertmanager on loopback, with a
// receiver that sends nothing and no cluster, and returns its URL.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(alertmanagerBinary); err != nil {
		t.Skipf("%s not installed (Debian package prometheus-alertmanager): %v", alertmanagerBinary, err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	conf := "route:\n  receiver: \"null\"\n  group_wait: 0s\nreceivers:\n  - name: \"null\"\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for try := 0; try < 3; try++ {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		var logs bytes.Buffer
		cmd := exec.Command(alertmanagerBinary,
			"--config.file="+cfg,
			"--storage.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+addr,
			"--cluster.listen-address=",
			"--log.level=warn",
		)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}
		base := "http://" + addr
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				lastErr = fmt.Errorf("alertmanager exited: %s", logs.String())
				deadline = time.Time{}
				continue
			default:
			}
			resp, err := http.Get(base + "/-/ready")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Cleanup(stop)
					return base
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		stop()
		if lastErr == nil {
			lastErr = fmt.Errorf("alertmanager not ready on %s: %s", addr, logs.String())
		}
	}
	t.Fatal(lastErr)
	return ""
}

// gettableAlert is the part of API v2's gettable alert the test reads.
type gettableAlert struct {
	Labels   map[string]string `json:"labels"`
	StartsAt time.Time         `json:"startsAt"`
	EndsAt   time.Time         `json:"endsAt"`
	Status   struct {
		State string `json:"state"`
	} `json:"status"`
}

// alertsNamed returns Alertmanager's alerts with alertname name.
func alertsNamed(t *testing.T, base, name string) []gettableAlert {
	t.Helper()
	q := url.Values{"filter": {fmt.Sprintf("alertname=%q", name)}}
	resp, err := http.Get(base + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET alerts: %d %s", resp.StatusCode, b)
	}
	var out []gettableAlert
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("GET alerts: %v: %s", err, b)
	}
	return out
}

// TestRealAlertmanager sends a firing and its resolution through the
// Dispatcher to a real Alertmanager and reads its alerts back.
func TestRealAlertmanager(t *testing.T) {
	base := startAlertmanager(t)
	c, _ := alertmanagerAction(t, "type: alertmanager\nurl: "+base+"\nlabels:\n  cluster: f01234\n  hub: '{{ field \"api hub\" }}'\n")
	d, audit := dispatcher(t, map[string]*Configured{"am": c})

	f := fire("wallet-password-not-set", "am")
	f.Group = "/dns/gw/tcp/83/wss"
	f.Event.Time = time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	d.Dispatch(f)
	if r := audit.next(t); r.Outcome != OutcomeOK {
		t.Fatalf("firing: %+v", r)
	}
	var got []gettableAlert
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if got = alertsNamed(t, base, f.Rule); len(got) > 0 {
			break
		}
	}
	if len(got) != 1 {
		t.Fatalf("Alertmanager has %d alerts for the rule: %+v", len(got), got)
	}
	want := map[string]string{
		"alertname": "wallet-password-not-set", "severity": "critical", "host": "miner-01",
		"source": "venus-wallet", "group": "/dns/gw/tcp/83/wss", "cluster": "f01234", "hub": "/dns/gw/tcp/83/wss",
	}
	if d := cmp.Diff(want, got[0].Labels); d != "" {
		t.Errorf("labels in Alertmanager (-want +got):\n%s", d)
	}
	if got[0].Status.State != "active" || !got[0].StartsAt.Equal(f.Event.Time) || time.Until(got[0].EndsAt) < 50*time.Minute {
		t.Errorf("alert %+v: want active from the event's time until about an hour from now", got[0])
	}

	r := f
	r.ID = "resolved-id"
	r.Resolved = true
	r.Event.Source = "venus-wallet-2" // the same incident, resolved from another source
	r.Event.Time = time.Now().Add(-time.Second)
	d.Dispatch(r)
	if rec := audit.next(t); rec.Outcome != OutcomeOK {
		t.Fatalf("resolution: %+v", rec)
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		got = alertsNamed(t, base, f.Rule)
		active := 0
		for _, g := range got {
			if g.Status.State == "active" && g.EndsAt.After(time.Now()) {
				active++
			}
		}
		if active == 0 {
			return
		}
	}
	t.Fatalf("the alert is still active after its resolution: %+v", got)
}

// TestRealAlertmanagerRefusal: a label value Alertmanager refuses is a
// failure with its reason, not retried.
func TestRealAlertmanagerRefusal(t *testing.T) {
	base := startAlertmanager(t)
	c, _ := alertmanagerAction(t, "type: alertmanager\nurl: "+base+"\n")
	d, audit := dispatcher(t, map[string]*Configured{"am": c})
	f := fire("", "am") // no alertname: refused by Alertmanager
	f.Severity, f.Event.Host, f.Event.Source = "", "", ""
	d.Dispatch(f)
	r := audit.next(t)
	if r.Outcome != OutcomeFailed || r.Attempts != 1 || !strings.Contains(r.Err, "HTTP 400") {
		t.Fatalf("record %+v", r)
	}
	if !strings.Contains(r.Err, "post "+base+": ") {
		t.Errorf("error %q should name the Alertmanager", r.Err)
	}
}
