package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/venus-medic/venus-medic/event"
)

func probeOnce(t *testing.T, cfg ProbeConfig) map[string]any {
	t.Helper()
	cfg.Name = "p"
	if cfg.Every == 0 {
		cfg.Every = time.Hour
	}
	p, err := NewProbe(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan event.Line, 1)
	go p.Run(ctx, out)
	select {
	case l := <-out:
		var m map[string]any
		if err := json.Unmarshal(l.Text, &m); err != nil {
			t.Fatalf("probe line is not JSON: %v: %s", err, l.Text)
		}
		if l.Source != "p" {
			t.Errorf("source %q", l.Source)
		}
		return m
	case <-time.After(15 * time.Second):
		t.Fatal("no probe result")
	}
	return nil
}

const faultsTable = "Miner: f01234\ndeadline  partition  sectors  expiration(days)\n  7       0          1001     512.5086805555555\n  12      1          23007    312.5\n"

func TestProbeParsesProvingFaults(t *testing.T) {
	m := probeOnce(t, ProbeConfig{Command: []string{"printf", "%s", faultsTable}, Parse: "proving-faults"})
	if m["faults"] != float64(2) || m["miner"] != "f01234" || m["level"] != "INFO" || m["ok"] != true {
		t.Errorf("result %v", m)
	}
	if s, _ := json.Marshal(m["sectors"]); string(s) != "[1001,23007]" {
		t.Errorf("sectors %s", s)
	}
	if m["msg"] != "probe p: 2 faulty sectors" {
		t.Errorf("msg %q", m["msg"])
	}
}

func TestProbeFailure(t *testing.T) {
	m := probeOnce(t, ProbeConfig{Command: []string{"sh", "-c", "echo 'ERROR: connection refused' >&2; exit 1"}})
	if m["exit_code"] != float64(1) || m["ok"] != false || m["level"] != "ERROR" || !strings.Contains(m["output"].(string), "connection refused") {
		t.Errorf("result %v", m)
	}
	m = probeOnce(t, ProbeConfig{Command: []string{"/nonexistent/venus-sealer"}})
	if m["exit_code"] != float64(-1) || m["level"] != "ERROR" {
		t.Errorf("result %v", m)
	}
}

func TestProbeTimeoutKills(t *testing.T) {
	start := time.Now()
	m := probeOnce(t, ProbeConfig{Command: []string{"sh", "-c", "sleep 30 & sleep 30"}, Timeout: 200 * time.Millisecond})
	if time.Since(start) > 10*time.Second || m["ok"] != false || !strings.Contains(m["error"].(string), "killed after") {
		t.Errorf("result %v after %v", m, time.Since(start))
	}
}

func TestProbeGarbageIsAFailure(t *testing.T) {
	m := probeOnce(t, ProbeConfig{Command: []string{"echo", "<html>proxy error</html>"}, Parse: "proving-faults"})
	if m["level"] != "ERROR" || m["faults"] != nil {
		t.Errorf("result %v", m)
	}
}

func TestProbeHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthcheck" {
			w.Write([]byte("ok"))
			return
		}
		w.WriteHeader(503)
	}))
	defer srv.Close()
	m := probeOnce(t, ProbeConfig{URL: srv.URL + "/healthcheck"})
	if m["ok"] != true || m["status"] != float64(200) || m["level"] != "INFO" {
		t.Errorf("result %v", m)
	}
	m = probeOnce(t, ProbeConfig{URL: srv.URL + "/down?token=SECRET"})
	if m["ok"] != false || m["status"] != float64(503) || m["level"] != "ERROR" || strings.Contains(fmt.Sprint(m), "SECRET") {
		t.Errorf("result %v", m)
	}
	m = probeOnce(t, ProbeConfig{URL: "http://127.0.0.1:1/healthcheck"})
	if m["ok"] != false || m["level"] != "ERROR" {
		t.Errorf("result %v", m)
	}
}

func TestProbeRPC(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good-token" {
			w.WriteHeader(401)
			return
		}
		var req struct {
			Method string `json:"method"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if req.Method == "Filecoin.LockState" {
			w.Write([]byte(`{"jsonrpc":"2.0","result":true,"id":1}`))
			return
		}
		w.Write([]byte(`{"jsonrpc":"2.0","error":{"code":1,"message":"method not found"},"id":1}`))
	}))
	defer srv.Close()
	m := probeOnce(t, ProbeConfig{RPC: &RPCCall{URL: srv.URL + "/rpc/v0", Method: "Filecoin.LockState", Token: "good-token"}})
	if m["ok"] != true || m["result"] != true {
		t.Errorf("result %v", m)
	}
	m = probeOnce(t, ProbeConfig{RPC: &RPCCall{URL: srv.URL + "/rpc/v0", Method: "Filecoin.Nope", Token: "good-token"}})
	if m["ok"] != false || !strings.Contains(m["error"].(string), "method not found") {
		t.Errorf("result %v", m)
	}
	m = probeOnce(t, ProbeConfig{RPC: &RPCCall{URL: srv.URL + "/rpc/v0", Method: "Filecoin.LockState", Token: "bad-token"}})
	if m["ok"] != false || m["status"] != float64(401) || strings.Contains(fmt.Sprint(m), "bad-token") {
		t.Errorf("result %v", m)
	}
}
