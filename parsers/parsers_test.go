package parsers

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/venus-medic/venus-medic/event"
)

// want is what a test expects of a parsed event; Time is RFC3339Nano ("" =
// no time).
type want struct {
	Time     string
	Level    string
	Logger   string
	Caller   string
	Msg      string
	Fields   map[string]any
	Captures map[string]string
}

func got(ev *event.Event) want {
	w := want{Level: ev.Level, Logger: ev.Logger, Caller: ev.Caller, Msg: ev.Msg,
		Fields: ev.Fields, Captures: ev.Captures}
	if !ev.Time.IsZero() {
		w.Time = ev.Time.Format(time.RFC3339Nano)
	}
	return w
}

type parseCase struct {
	name string
	line string
	want want
}

func runCases(t *testing.T, p Parser, cases []parseCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev event.Event
			p.Parse([]byte(c.line), &ev)
			if d := cmp.Diff(c.want, got(&ev)); d != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", c.line, d)
			}
		})
	}
}

const hub = `{"api hub": "/dns/gateway.filincubator.com/tcp/83/wss"}`

var hubFields = map[string]any{"api hub": "/dns/gateway.filincubator.com/tcp/83/wss"}

func TestGoLog(t *testing.T) {
	runCases(t, GoLog{}, []parseCase{
		{"wallet password not set",
			"2024-03-05T10:21:40.007+0800\tERROR\twallet_event\twallet_event/listenevent.go:236\tWalletSign error password not set\t" + hub,
			want{Time: "2024-03-05T10:21:40.007+08:00", Level: "ERROR", Logger: "wallet_event",
				Caller: "wallet_event/listenevent.go:236", Msg: "WalletSign error password not set", Fields: hubFields}},
		{"no time column, as the guide shows it",
			"INFO\tmain\tcmd/rpc.go:73\tstart rpc server at [/ip4/0.0.0.0/tcp/5678/http] ...",
			want{Level: "INFO", Logger: "main", Caller: "cmd/rpc.go:73", Msg: "start rpc server at [/ip4/0.0.0.0/tcp/5678/http] ..."}},
		{"empty message: two TABs before the tail",
			"INFO\twallet_event\twallet_event/listenevent.go:184\t\t{\"rand sign byte\": \"TCzGneQnvI2N6LqBVf0AHwaEr+NueDnk1aCSo+1G3SA=\"}",
			want{Level: "INFO", Logger: "wallet_event", Caller: "wallet_event/listenevent.go:184",
				Fields: map[string]any{"rand sign byte": "TCzGneQnvI2N6LqBVf0AHwaEr+NueDnk1aCSo+1G3SA="}}},
		{"UTC time with Z",
			"2022-05-09T07:29:51.325Z\tINFO\tcmd\tinternal/util.go:40\ttrying to listen on :1789",
			want{Time: "2022-05-09T07:29:51.325Z", Level: "INFO", Logger: "cmd", Caller: "internal/util.go:40", Msg: "trying to listen on :1789"}},
		{"logger with a space",
			"2024-03-05T11:05:02.900+0800\tWARN\tworker prover\tworker/job_mgr_kv.go:287\twdPoSt job failed: 6f1c…; error_reason: …",
			want{Time: "2024-03-05T11:05:02.9+08:00", Level: "WARN", Logger: "worker prover", Caller: "worker/job_mgr_kv.go:287",
				Msg: "wdPoSt job failed: 6f1c…; error_reason: …"}},
		{"ANSI colour around the level",
			"2024-03-05T10:21:40.007+0800\t\x1b[31mERROR\x1b[0m\twallet_event\twallet_event/listenevent.go:236\tWalletSign error password not set\t" + hub,
			want{Time: "2024-03-05T10:21:40.007+08:00", Level: "ERROR", Logger: "wallet_event",
				Caller: "wallet_event/listenevent.go:236", Msg: "WalletSign error password not set", Fields: hubFields}},
		{"TABs copied as spaces",
			"2021-07-12T15:14:12.457+0800    INFO    wallet_event    wallet_event/listenevent.go:197 connect to server fcf714b2-…  {\"api hub\": \"/ip4/<IP_ADDRESS>/tcp/45132\"}",
			want{Time: "2021-07-12T15:14:12.457+08:00", Level: "INFO", Logger: "wallet_event", Caller: "wallet_event/listenevent.go:197",
				Msg: "connect to server fcf714b2-…", Fields: map[string]any{"api hub": "/ip4/<IP_ADDRESS>/tcp/45132"}}},
		{"copied, logger with a space, empty message",
			"2024-03-05T10:22:00.500+0800    INFO    worker prover   wallet_event/listenevent.go:184         {\"n\": 1}",
			want{Time: "2024-03-05T10:22:00.5+08:00", Level: "INFO", Logger: "worker prover", Caller: "wallet_event/listenevent.go:184",
				Fields: map[string]any{"n": float64(1)}}},
		{"copied, braces in the message are not a tail",
			"2024-03-05T10:41:06.123+0800    INFO    process block   chain/process.go:77     block {1} in {x} processed  {\"height\": 3512330}",
			want{Time: "2024-03-05T10:41:06.123+08:00", Level: "INFO", Logger: "process block", Caller: "chain/process.go:77",
				Msg: "block {1} in {x} processed", Fields: map[string]any{"height": float64(3512330)}}},
		{"JSON tail on the next line after a TAB",
			"2024-03-05T12:00:00.100+0800\tINFO\tcommitmgr\tcommitmgr/precommit_processor.go:58\tprocess pre commit\n\t{\"proc\": \"pre\", \"miner\": 1234}",
			want{Time: "2024-03-05T12:00:00.1+08:00", Level: "INFO", Logger: "commitmgr", Caller: "commitmgr/precommit_processor.go:58",
				Msg: "process pre commit", Fields: map[string]any{"proc": "pre", "miner": float64(1234)}}},
		{"JSON tail on the next line without a TAB",
			"2024-03-05T12:00:00.100+0800\tINFO\tcommitmgr\tcommitmgr/commit_processor.go:140\tprocess commit\n{\"proc\": \"prove\"}",
			want{Time: "2024-03-05T12:00:00.1+08:00", Level: "INFO", Logger: "commitmgr", Caller: "commitmgr/commit_processor.go:140",
				Msg: "process commit", Fields: map[string]any{"proc": "prove"}}},
		{"message ending in a newline, no fields",
			"2024-03-05T12:00:00.100+0800\tINFO\tdep\tdep/prover.go:87\tprover ready\n",
			want{Time: "2024-03-05T12:00:00.1+08:00", Level: "INFO", Logger: "dep", Caller: "dep/prover.go:87", Msg: "prover ready"}},
		{"malformed tail stays in the message",
			"2024-03-05T10:23:00.000+0800\tWARN\twallet_event\twallet_event/listenevent.go:164\tquit\t{\"api hub\": \"/dns/gatew",
			want{Time: "2024-03-05T10:23:00+08:00", Level: "WARN", Logger: "wallet_event", Caller: "wallet_event/listenevent.go:164",
				Msg: "quit\t{\"api hub\": \"/dns/gatew"}},
		{"tail that is JSON but not an object stays in the message",
			"2024-03-05T10:23:00.000+0800\tWARN\tx\tx/y.go:1\tquit\t[1,2]",
			want{Time: "2024-03-05T10:23:00+08:00", Level: "WARN", Logger: "x", Caller: "x/y.go:1", Msg: "quit\t[1,2]"}},
		{"nested tail values and escapes (encoding/json)",
			"2024-03-05T10:50:11.402+0800\tWARN\tposter\tposter/runner.go:433\tskipped sectors\t{\"mid\": \"1234\", \"ddl-idx\": 7, \"sectors\": [{\"Miner\":1234,\"Number\":1001}], \"q\": \"a\\\"b\"}",
			want{Time: "2024-03-05T10:50:11.402+08:00", Level: "WARN", Logger: "poster", Caller: "poster/runner.go:433", Msg: "skipped sectors",
				Fields: map[string]any{"mid": "1234", "ddl-idx": float64(7), "q": `a"b`,
					"sectors": []any{map[string]any{"Miner": float64(1234), "Number": float64(1001)}}}}},
		{"broken verbs are kept",
			"2024-08-12T03:32:41.015Z\tERROR\tposter\tposter/poster.go:383\tget miner info: %!w(*jsonrpc.RPCConnectionError=&{0xc0012a4f00})",
			want{Time: "2024-08-12T03:32:41.015Z", Level: "ERROR", Logger: "poster", Caller: "poster/poster.go:383",
				Msg: "get miner info: %!w(*jsonrpc.RPCConnectionError=&{0xc0012a4f00})"}},
		{"no logger name",
			"2024-03-05T10:00:00.000+0800\tINFO\tmain.go:12\thello",
			want{Time: "2024-03-05T10:00:00+08:00", Level: "INFO", Caller: "main.go:12", Msg: "hello"}},
		{"go-log v1 (go-logging) without colour",
			"2019-05-01 15:04:05.123456 ERROR chain syncer.go:123: sync failed",
			want{Time: "2019-05-01T15:04:05.123456+03:00", Level: "ERROR", Logger: "chain", Caller: "syncer.go:123", Msg: "sync failed"}},
		{"go-log v1 (go-logging) colour layout",
			"\x1b[0;37m15:04:05.000 \x1b[31mWARNI \x1b[0;34m     chain: \x1b[0mbad tipset \x1b[0;37msyncer.go:123\x1b[0m",
			want{Level: "WARN", Logger: "chain", Caller: "syncer.go:123", Msg: "bad tipset"}},
		{"panic line is raw", "panic: runtime error: invalid memory address or nil pointer dereference",
			want{Msg: "panic: runtime error: invalid memory address or nil pointer dereference"}},
		{"lower-case level is not go-log", "2024-03-05T10:00:00.000+0800\tinfo\tx\tx/y.go:1\thello",
			want{Msg: "2024-03-05T10:00:00.000+0800\tinfo\tx\tx/y.go:1\thello"}},
		{"impossible time is raw", "2024-13-45T10:00:00.000+0800\tINFO\tx\tx/y.go:1\thello",
			want{Msg: "2024-13-45T10:00:00.000+0800\tINFO\tx\tx/y.go:1\thello"}},
		{"copied line without a caller is raw", "2024-03-05T10:41:07.000+0800    INFO    no caller here",
			want{Msg: "2024-03-05T10:41:07.000+0800    INFO    no caller here"}},
		{"junk", "\x1b[31m%%% junk {", want{Msg: "%%% junk {"}},
		{"empty", "", want{}},
		{"invalid UTF-8 is kept as is", "2024-03-05T10:00:00.000+0800\tINFO\tx\tx/y.go:1\tbad \xff\xfe",
			want{Time: "2024-03-05T10:00:00+08:00", Level: "INFO", Logger: "x", Caller: "x/y.go:1", Msg: "bad \xff\xfe"}},
	})
}

// TestTimeKeepsPrecisionAndOffset: the output prints times back as
// RFC3339Nano with the line's own offset.
func TestTimeKeepsPrecisionAndOffset(t *testing.T) {
	for in, out := range map[string]string{
		"2024-03-05T10:21:33.123+0800":        "2024-03-05T10:21:33.123+08:00",
		"2024-03-05T10:21:33.120+0800":        "2024-03-05T10:21:33.12+08:00",
		"2024-03-05T10:21:33.000Z":            "2024-03-05T10:21:33Z",
		"2024-03-05T10:21:33.482913562+08:00": "2024-03-05T10:21:33.482913562+08:00",
		"2022-08-19T10:12:14.78549745+08:00":  "2022-08-19T10:12:14.78549745+08:00",
		"2024-03-05T10:21:33-05:30":           "2024-03-05T10:21:33-05:30",
		"2024-03-05T10:21:33.1234567891+0100": "2024-03-05T10:21:33.123456789+01:00",
		"2024-03-05 10:21:33.5":               "2024-03-05T10:21:33.5+03:00", // local (pinned in TestMain)
	} {
		tm, ok := parseTimeValue(in)
		if !ok {
			t.Errorf("parseTimeValue(%q) failed", in)
			continue
		}
		if s := tm.Format(time.RFC3339Nano); s != out {
			t.Errorf("parseTimeValue(%q) = %s, want %s", in, s, out)
		}
	}
	for _, bad := range []string{"", "2024-03-05", "2024-03-05T10:21", "2024-03-05T10:21:33.", "2024-03-05T10:21:33+2500", "yesterday"} {
		if tm, ok := parseTimeValue(bad); ok {
			t.Errorf("parseTimeValue(%q) = %v, want failure", bad, tm)
		}
	}
}

func TestTracing(t *testing.T) {
	runCases(t, Tracing{}, []parseCase{
		{"no spans, trailing fields",
			"2024-03-05T10:21:33.11236+08:00  INFO ThreadId(01) damocles_worker::run: rpc dial info raw=/ip4/127.0.0.1/tcp/1789 addr=http://127.0.0.1:1789/rpc/v0",
			want{Time: "2024-03-05T10:21:33.11236+08:00", Level: "INFO", Logger: "damocles_worker::run", Msg: "rpc dial info",
				Fields: map[string]any{"thread": "1", "raw": "/ip4/127.0.0.1/tcp/1789", "addr": "http://127.0.0.1:1789/rpc/v0"}}},
		{"spans: Debug strings unquoted, Some(x) unwrapped",
			`2024-03-05T10:40:12.031254+08:00  WARN ThreadId(22) module{name="worker-2"}:seal{miner=Some(1234) sector=Some(100) event=Some(PC2)}: damocles_worker::sealing::sealing_thread::planner::common::task: temp error occurred: rpc error: Server error: … retry=0`,
			want{Time: "2024-03-05T10:40:12.031254+08:00", Level: "WARN", Logger: "damocles_worker::sealing::sealing_thread::planner::common::task",
				Msg: "temp error occurred: rpc error: Server error: …",
				Fields: map[string]any{"thread": "22", "module.name": "worker-2", "seal.miner": "1234", "seal.sector": "100",
					"seal.event": "PC2", "retry": "0"}}},
		{"None fields are absent",
			`2024-06-02T08:41:45.4+08:00  WARN ThreadId(20) module{name="worker-0"}:seal{miner=None sector=None event=None}: damocles_worker::sealing::sealing_thread::planner::sealer: sectors are not allocated yet`,
			want{Time: "2024-06-02T08:41:45.4+08:00", Level: "WARN", Logger: "damocles_worker::sealing::sealing_thread::planner::sealer",
				Msg: "sectors are not allocated yet", Fields: map[string]any{"thread": "20", "module.name": "worker-0"}}},
		{"value with blanks stays in the message",
			`2024-03-05T11:02:40.7+08:00 ERROR ThreadId(22) module{name="worker-2"}: damocles_worker::sealing::sealing_thread: sealing failed failure=permanent: pre commit on-chain info permanent failed: Some("…")`,
			want{Time: "2024-03-05T11:02:40.7+08:00", Level: "ERROR", Logger: "damocles_worker::sealing::sealing_thread",
				Msg:    `sealing failed failure=permanent: pre commit on-chain info permanent failed: Some("…")`,
				Fields: map[string]any{"thread": "22", "module.name": "worker-2"}}},
		{"quoted trailing field after a message with blanks",
			`2024-03-05T12:10:00.25+08:00 ERROR ThreadId(25) module{name="worker-8"}:handle{current=Allocated}: damocles_worker::sealing::sealing_thread::planner::wdpost: wdpost error err=… job_id="b5f0c2e8…"`,
			want{Time: "2024-03-05T12:10:00.25+08:00", Level: "ERROR", Logger: "damocles_worker::sealing::sealing_thread::planner::wdpost",
				Msg: "wdpost error", Fields: map[string]any{"thread": "25", "module.name": "worker-8", "handle.current": "Allocated",
					"err": "…", "job_id": "b5f0c2e8…"}}},
		{"spans with unquoted values, bridged log target",
			`2024-03-05T10:25:01.5+08:00  INFO ThreadId(03) sub{name=pc1 pid=41234}:request{id=1 size=5872}: filecoin_proofs::api::seal: seal_pre_commit_phase1:start: SectorId(100)`,
			want{Time: "2024-03-05T10:25:01.5+08:00", Level: "INFO", Logger: "filecoin_proofs::api::seal",
				Msg:    "seal_pre_commit_phase1:start: SectorId(100)",
				Fields: map[string]any{"thread": "3", "sub.name": "pc1", "sub.pid": "41234", "request.id": "1", "request.size": "5872"}}},
		{"panic hook line: Debug struct value and dotted keys",
			`2024-10-10T23:59:58.0011+08:00 ERROR ThreadId(22) module{name="worker-2"}: damocles_worker::util::panic_hook: panicked at 'x', src/x.rs:14:65 backtrace=Backtrace [{ fn: "a", line: 29 }] panic.file="src/x.rs" panic.line=14 panic.column=65`,
			want{Time: "2024-10-10T23:59:58.0011+08:00", Level: "ERROR", Logger: "damocles_worker::util::panic_hook",
				Msg: "panicked at 'x', src/x.rs:14:65",
				Fields: map[string]any{"thread": "22", "module.name": "worker-2", "backtrace": `Backtrace [{ fn: "a", line: 29 }]`,
					"panic.file": "src/x.rs", "panic.line": "14", "panic.column": "65"}}},
		{"TRACE is DEBUG, no fraction, Z",
			`2024-03-05T10:00:00Z TRACE ThreadId(132) damocles_worker::sealing::ping: ping elapsed=1.2ms`,
			want{Time: "2024-03-05T10:00:00Z", Level: "DEBUG", Logger: "damocles_worker::sealing::ping", Msg: "ping",
				Fields: map[string]any{"thread": "132", "elapsed": "1.2ms"}}},
		{"without thread ids",
			`2024-03-05T10:00:00.5+08:00  INFO damocles_worker::watchdog: start`,
			want{Time: "2024-03-05T10:00:00.5+08:00", Level: "INFO", Logger: "damocles_worker::watchdog", Msg: "start"}},
		{"ANSI colours (terminal)",
			"\x1b[2m2024-03-05T10:22:03.23+08:00\x1b[0m \x1b[34mDEBUG\x1b[0m \x1b[2mThreadId(14)\x1b[0m \x1b[1mmodule\x1b[0m\x1b[1m{\x1b[0mname=\"worker-ping\"\x1b[1m}\x1b[0m\x1b[2m:\x1b[0m \x1b[2mdamocles_worker::sealing::ping\x1b[0m\x1b[2m:\x1b[0m ping \x1b[3melapsed\x1b[0m\x1b[2m=\x1b[0m1.2ms",
			want{Time: "2024-03-05T10:22:03.23+08:00", Level: "DEBUG", Logger: "damocles_worker::sealing::ping", Msg: "ping",
				Fields: map[string]any{"thread": "14", "module.name": "worker-ping", "elapsed": "1.2ms"}}},
		{"anyhow error over several lines, fields after the last",
			"2024-03-05T12:00:03.9+08:00 ERROR ThreadId(31) vc_processors::core::ext::producer: failed to start response handler. pid: 41234\n\nCaused by:\n    child process exit code=1",
			want{Time: "2024-03-05T12:00:03.9+08:00", Level: "ERROR", Logger: "vc_processors::core::ext::producer",
				Msg:    "failed to start response handler. pid: 41234\n\nCaused by:\n    child process exit",
				Fields: map[string]any{"thread": "31", "code": "1"}}},
		{"go-log line is not tracing", "2024-03-05T10:21:40.007+0800\tERROR\twallet_event\tw/l.go:236\tx",
			want{Msg: "2024-03-05T10:21:40.007+0800\tERROR\twallet_event\tw/l.go:236\tx"}},
		{"copied go-log line is not tracing", "2024-03-05T10:21:40.007+0800    ERROR    wallet_event    w/l.go:236    x",
			want{Msg: "2024-03-05T10:21:40.007+0800    ERROR    wallet_event    w/l.go:236    x"}},
		{"unbalanced span is kept", `2024-03-05T10:00:00Z  INFO ThreadId(01) module{name="x: start`,
			want{Time: "2024-03-05T10:00:00Z", Level: "INFO", Msg: `module{name="x: start`, Fields: map[string]any{"thread": "1"}}},
	})
}

func TestLogrus(t *testing.T) {
	runCases(t, Logrus{}, []parseCase{
		{"sophon-auth, colours forced on",
			"\x1b[36mINFO\x1b[0m[2026-11-24T10:00:01+08:00] server start and listen on 0.0.0.0:8989      ",
			want{Time: "2026-11-24T10:00:01+08:00", Level: "INFO", Msg: "server start and listen on 0.0.0.0:8989"}},
		{"colour marks the fields apart from a message with k=v",
			"\x1b[31mERRO\x1b[0m[2024-03-05T09:02:15+08:00] token not found a=b                           \x1b[31melapsed\x1b[0m=0.1ms \x1b[31mname\x1b[0m= \x1b[31msvcName\x1b[0m=\"sophon messager\"",
			want{Time: "2024-03-05T09:02:15+08:00", Level: "ERROR", Msg: "token not found a=b",
				Fields: map[string]any{"elapsed": "0.1ms", "name": "", "svcName": "sophon messager"}}},
		{"TRAC is DEBUG, empty message",
			"\x1b[37mTRAC\x1b[0m[2024-03-05T09:00:05+08:00]                                               \x1b[37mip\x1b[0m=10.0.1.20 \x1b[37mmethod\x1b[0m=verify",
			want{Time: "2024-03-05T09:00:05+08:00", Level: "DEBUG", Fields: map[string]any{"ip": "10.0.1.20", "method": "verify"}}},
		{"without colours",
			`WARN[2024-03-05T09:00:35+08:00] verify token x failed: token not found      ip=10.0.3.7 svcName="sophon messager"`,
			want{Time: "2024-03-05T09:00:35+08:00", Level: "WARN", Msg: "verify token x failed: token not found",
				Fields: map[string]any{"ip": "10.0.3.7", "svcName": "sophon messager"}}},
		{"seconds since start instead of a time", "FATA[0012] cannot open db",
			want{Level: "FATAL", Msg: "cannot open db"}},
		{"logfmt form",
			`time="2024-03-05T09:03:00+08:00" level=warning msg="missing Bearer prefix in sophon-auth header" ip=10.0.3.7`,
			want{Time: "2024-03-05T09:03:00+08:00", Level: "WARN", Msg: "missing Bearer prefix in sophon-auth header",
				Fields: map[string]any{"ip": "10.0.3.7"}}},
		{"not logrus", "BLAH[2024-03-05T09:03:00+08:00] x", want{Msg: "BLAH[2024-03-05T09:03:00+08:00] x"}},
	})
}

func TestLogfmt(t *testing.T) {
	runCases(t, Logfmt{}, []parseCase{
		{"keys map to event fields",
			`ts=2024-03-05T09:03:01.5Z lvl=err caller=main.go:12 logger=auth msg="it \"broke\"\nbadly" retries=3`,
			want{Time: "2024-03-05T09:03:01.5Z", Level: "ERROR", Logger: "auth", Caller: "main.go:12", Msg: "it \"broke\"\nbadly",
				Fields: map[string]any{"retries": "3"}}},
		{"unknown level stays in fields", `level=verbose msg=x`,
			want{Msg: "x", Fields: map[string]any{"level": "verbose"}}},
		{"no msg key: the whole text", `level=info a=1`,
			want{Level: "INFO", Msg: "level=info a=1", Fields: map[string]any{"a": "1"}}},
		{"bare keys", `msg=x flag`, want{Msg: "x", Fields: map[string]any{"flag": ""}}},
		{"unterminated quote is raw", `msg="x`, want{Msg: `msg="x`}},
		{"no pairs is raw", `just words`, want{Msg: `just words`}},
	})
}

func TestJSON(t *testing.T) {
	runCases(t, JSON{}, []parseCase{
		{"go-log JSON",
			`{"level":"error","ts":"2026-11-24T10:00:01.123+0800","logger":"wallet_event","caller":"walletevent/wallet_client.go:160","msg":"WalletSign error password not set","api hub":"/ip4/127.0.0.1/tcp/45132"}`,
			want{Time: "2026-11-24T10:00:01.123+08:00", Level: "ERROR", Logger: "wallet_event", Caller: "walletevent/wallet_client.go:160",
				Msg: "WalletSign error password not set", Fields: map[string]any{"api hub": "/ip4/127.0.0.1/tcp/45132"}}},
		{"nested values kept, warning is WARN",
			`{"time":"2024-03-05T10:00:00.123456Z","level":"warning","message":"disk","disk":{"used":0.93,"paths":["/a"]}}`,
			want{Time: "2024-03-05T10:00:00.123456Z", Level: "WARN", Msg: "disk",
				Fields: map[string]any{"disk": map[string]any{"used": 0.93, "paths": []any{"/a"}}}}},
		{"epoch seconds and bunyan levels", `{"time":1709632800,"level":50,"msg":"x"}`,
			want{Time: "2024-03-05T13:00:00+03:00", Level: "ERROR", Msg: "x"}},
		{"not an object", `[1,2]`, want{Msg: `[1,2]`}},
		{"broken", `{"level":"info"`, want{Msg: `{"level":"info"`}},
	})
	if p, _ := New("golog-json", Options{}); p == nil {
		t.Fatal("golog-json is not registered")
	}
}

func TestRegex(t *testing.T) {
	p, err := New("regex", Options{Pattern: `^\[(?P<time>[^\]]+)\] (?P<level>\w+) (?P<logger>\w+): (?P<msg>.*?)(?: id=(?P<id>\d+))?$`})
	if err != nil {
		t.Fatal(err)
	}
	runCases(t, p, []parseCase{
		{"named groups set event fields and captures",
			"[2024-03-05 10:00:00.25] warning disk: almost full id=7",
			want{Time: "2024-03-05T10:00:00.25+03:00", Level: "WARN", Logger: "disk", Msg: "almost full",
				Captures: map[string]string{"time": "2024-03-05 10:00:00.25", "level": "warning", "logger": "disk", "msg": "almost full", "id": "7"}}},
		{"a group that did not take part is absent",
			"[2024/03/05 10:00:00] ERROR disk: gone",
			want{Time: "2024-03-05T10:00:00+03:00", Level: "ERROR", Logger: "disk", Msg: "gone",
				Captures: map[string]string{"time": "2024/03/05 10:00:00", "level": "ERROR", "logger": "disk", "msg": "gone"}}},
		{"no match is raw", "something else", want{Msg: "something else"}},
	})
	q, err := NewRegex(`code=(?P<code>\d+)`)
	if err != nil {
		t.Fatal(err)
	}
	runCases(t, q, []parseCase{
		{"without a msg group, Msg is the record", "exit code=3 now",
			want{Msg: "exit code=3 now", Captures: map[string]string{"code": "3"}}},
	})
}

func TestAuto(t *testing.T) {
	p, err := New("auto", Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The same parser sees every line, in this order, as it would a
	// damocles-manager log with --ext-prover children.
	runCases(t, p, []parseCase{
		{"go-log", "2024-03-05T10:21:40.007+0800\tERROR\twallet_event\twallet_event/listenevent.go:236\tWalletSign error password not set\t" + hub,
			want{Time: "2024-03-05T10:21:40.007+08:00", Level: "ERROR", Logger: "wallet_event",
				Caller: "wallet_event/listenevent.go:236", Msg: "WalletSign error password not set", Fields: hubFields}},
		{"tracing that names a Go file, after go-log", `2024-03-05T10:21:33.5+08:00  INFO ThreadId(01) damocles_worker::run: see main.go:12`,
			want{Time: "2024-03-05T10:21:33.5+08:00", Level: "INFO", Logger: "damocles_worker::run", Msg: "see main.go:12",
				Fields: map[string]any{"thread": "1"}}},
		{"tracing after go-log", `2024-03-05T10:21:33.482913562+08:00  INFO ThreadId(20) module{name="worker-0"}: damocles_worker::watchdog: start`,
			want{Time: "2024-03-05T10:21:33.482913562+08:00", Level: "INFO", Logger: "damocles_worker::watchdog", Msg: "start",
				Fields: map[string]any{"thread": "20", "module.name": "worker-0"}}},
		{"go-log after tracing", "2024-03-05T10:21:33.123+0800\tINFO\tmain\tcmd/rpc.go:73\tstart",
			want{Time: "2024-03-05T10:21:33.123+08:00", Level: "INFO", Logger: "main", Caller: "cmd/rpc.go:73", Msg: "start"}},
		{"copied go-log", "2024-03-05T10:21:33.123+0800    INFO    main    cmd/rpc.go:73   start",
			want{Time: "2024-03-05T10:21:33.123+08:00", Level: "INFO", Logger: "main", Caller: "cmd/rpc.go:73", Msg: "start"}},
		{"logrus", "\x1b[33mWARN\x1b[0m[2024-03-05T09:00:35+08:00] verify token x failed: token not found ",
			want{Time: "2024-03-05T09:00:35+08:00", Level: "WARN", Msg: "verify token x failed: token not found"}},
		{"go-log JSON", `{"level":"info","ts":"2026-11-24T10:00:02.000Z","logger":"main","caller":"cmd/rpc.go:73","msg":"start"}`,
			want{Time: "2026-11-24T10:00:02Z", Level: "INFO", Logger: "main", Caller: "cmd/rpc.go:73", Msg: "start"}},
		{"logfmt", `time="2024-03-05T09:03:00+08:00" level=warning msg="missing Bearer prefix"`,
			want{Time: "2024-03-05T09:03:00+08:00", Level: "WARN", Msg: "missing Bearer prefix"}},
		{"plain text with = is not logfmt", "reading config a=b from disk",
			want{Msg: "reading config a=b from disk"}},
		{"Go crash", "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.main()\n\t/x/main.go:5 +0x1d\nexit status 2",
			want{Msg: "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.main()\n\t/x/main.go:5 +0x1d\nexit status 2"}},
		{"go-log without time", "WARN\trpc\tgo-jsonrpc@v0.1.9/handler.go:456\terror in RPC call to 'Filecoin.WalletSign': password not set",
			want{Level: "WARN", Logger: "rpc", Caller: "go-jsonrpc@v0.1.9/handler.go:456", Msg: "error in RPC call to 'Filecoin.WalletSign': password not set"}},
		{"empty", "", want{}},
		{"ANSI only", "\x1b[0m", want{}},
	})
}

// TestReset: ev is reused, so Parse clears what a previous record left, and
// leaves the pipeline's own fields alone.
func TestReset(t *testing.T) {
	full := "2024-03-05T10:21:40.007+0800\tERROR\twallet_event\twallet_event/listenevent.go:236\tWalletSign error\t" + hub
	for _, name := range Names() {
		opt := Options{}
		if name == "regex" {
			opt.Pattern = `(?P<level>ERROR)\t(?P<logger>\w+)`
		}
		p, err := New(name, opt)
		if err != nil {
			t.Fatal(err)
		}
		ev := event.Event{Source: "venus-wallet", Host: "h", Line: "l", File: "f", Offset: 9, LineNo: 3}
		p.Parse([]byte(full), &ev)
		if ev.Level == "" && (name == "golog" || name == "auto" || name == "regex") {
			t.Errorf("%s: did not parse %q", name, full)
		}
		p.Parse([]byte("plain words"), &ev)
		wantEv := event.Event{Source: "venus-wallet", Host: "h", Line: "l", File: "f", Offset: 9, LineNo: 3, Msg: "plain words"}
		if d := cmp.Diff(wantEv, ev); d != "" {
			t.Errorf("%s: second Parse left (-want +got):\n%s", name, d)
		}
	}
}

func TestNew(t *testing.T) {
	if got, want := Names(), []string{"golog", "golog-json", "tracing", "logrus", "logfmt", "json", "regex", "auto"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	for _, n := range Names() {
		opt := Options{}
		if n == "regex" {
			opt.Pattern = "x"
		}
		if _, err := New(n, opt); err != nil {
			t.Errorf("New(%q): %v", n, err)
		}
	}
	_, err := New("zap", Options{})
	if err == nil || !strings.Contains(err.Error(), `"zap"`) || !strings.Contains(err.Error(), "golog, golog-json, tracing, logrus, logfmt, json, regex, auto") {
		t.Errorf("New(zap) error = %v, want one naming it and listing the parsers", err)
	}
	if _, err := New("regex", Options{Pattern: "(?P<msg>"}); err == nil || !strings.Contains(err.Error(), "bad pattern") {
		t.Errorf("bad pattern: error = %v", err)
	}
	if _, err := New("regex", Options{}); err == nil {
		t.Error("regex without a pattern: no error")
	}
	if _, err := New("golog", Options{Pattern: "x"}); err == nil {
		t.Error("golog with a pattern: no error")
	}
}

// TestHugeLine: a 5 MB line is parsed whole, quickly, and a huge run of
// k=v pairs does not become a huge map.
func TestHugeLine(t *testing.T) {
	msg := strings.Repeat("x", 5<<20)
	var ev event.Event
	GoLog{}.Parse([]byte("2024-03-05T10:00:00.000+0800\tINFO\tx\tx/y.go:1\t"+msg+"\t{\"k\": 1}"), &ev)
	if len(ev.Msg) != len(msg) || ev.Fields["k"] != float64(1) {
		t.Errorf("5 MB go-log line: msg %d bytes, fields %v", len(ev.Msg), ev.Fields)
	}
	pairs := strings.Repeat("k=v ", 5<<20/4)
	Tracing{}.Parse([]byte("2024-03-05T10:00:00Z  INFO ThreadId(01) t::u: m "+pairs), &ev)
	if len(ev.Fields) > maxFields || ev.Level != "INFO" {
		t.Errorf("5 MB tracing line: %d fields, level %q", len(ev.Fields), ev.Level)
	}
	Logfmt{}.Parse([]byte(pairs), &ev)
	if len(ev.Fields) > maxFields {
		t.Errorf("5 MB logfmt line: %d fields", len(ev.Fields))
	}
	junk := strings.Repeat(`{ "a \"`, 5<<20/7)
	for _, n := range Names() {
		if n == "regex" {
			continue
		}
		p, _ := New(n, Options{})
		p.Parse([]byte("2024-03-05T10:00:00.000+0800    INFO    x    x/y.go:1  "+junk+"}"), &ev)
		if ev.Msg == "" {
			t.Errorf("%s: 5 MB junk line lost its text", n)
		}
	}
}

// TestDecodeFlatMatchesEncodingJSON: the fast path for JSON tails gives
// exactly what encoding/json gives.
func TestDecodeFlatMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`{"api hub": "/dns/x/wss"}`, `{}`, `{ } `, `{"a":1,"b":-2.5e3,"c":true,"d":false,"e":null,"a":"dup"}`,
		`{"k": "über"}`, `{"n": 0}`, `{"n": -0}`, `{"n": 1E+2}`,
	} {
		f, ok := decodeFlat(s)
		if !ok {
			t.Errorf("decodeFlat(%q) refused a flat object", s)
			continue
		}
		checkSameAsJSON(t, s, f)
	}
	for _, s := range []string{`{"a":"\n"}`, `{"a":[1]}`, `{"a":01}`, `{"a":1.}`, `{"a":1`, `{"a" 1}`, `{"a":1}x`, "{\"a\":\"\xff\"}", `{"a":tru}`, `{"a":1e999}`} {
		if _, ok := decodeFlat(s); ok {
			t.Errorf("decodeFlat(%q) accepted it, encoding/json must decide", s)
		}
	}
}
