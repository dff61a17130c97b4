package parsers

import (
	"testing"

	"github.com/venus-medic/venus-medic/event"
)

var (
	benchGoLog     = []byte("2024-03-05T10:21:33.123+0800\tINFO\tservice\tservice/message_service.go:481\treceive new head from chain")
	benchGoLogTail = []byte("2024-03-05T10:21:40.007+0800\tERROR\twallet_event\twallet_event/listenevent.go:236\tWalletSign error password not set\t{\"api hub\": \"/dns/gateway.filincubator.com/tcp/83/wss\"}")
	benchGoLogCopy = []byte("2021-07-12T15:14:12.457+0800    INFO    wallet_event    wallet_event/listenevent.go:197 connect to server fcf714b2-0f5b  {\"api hub\": \"/ip4/10.0.1.20/tcp/45132\"}")
	benchTracing   = []byte(`2024-03-05T10:40:12.031254+08:00  WARN ThreadId(22) module{name="worker-2"}:seal{miner=Some(1234) sector=Some(100) event=Some(PC2)}: damocles_worker::sealing::sealing_thread::planner::common::task: temp error occurred: rpc error: sector 100 not found retry=0`)
	benchLogrus    = []byte("\x1b[31mERRO\x1b[0m[2024-03-05T09:02:15+08:00] token not found                               \x1b[31melapsed\x1b[0m=0.1ms \x1b[31mip\x1b[0m=10.0.3.7 \x1b[31mname\x1b[0m= \x1b[31msvcName\x1b[0m=sophon-messager")
	benchLogfmt    = []byte(`time="2024-03-05T09:03:00+08:00" level=warning msg="missing Bearer prefix in sophon-auth header" ip=10.0.3.7`)
	benchJSON      = []byte(`{"level":"error","ts":"2026-11-24T10:00:01.123+0800","logger":"wallet_event","caller":"walletevent/wallet_client.go:160","msg":"WalletSign error password not set","api hub":"/ip4/127.0.0.1/tcp/45132"}`)
)

func benchParse(b *testing.B, p Parser, line []byte) {
	var ev event.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		p.Parse(line, &ev)
	}
	if ev.Msg == "" || ev.Level == "" {
		b.Fatalf("line not parsed: %+v", ev)
	}
}

func BenchmarkGoLog(b *testing.B)       { benchParse(b, GoLog{}, benchGoLog) }
func BenchmarkGoLogTail(b *testing.B)   { benchParse(b, GoLog{}, benchGoLogTail) }
func BenchmarkGoLogCopied(b *testing.B) { benchParse(b, GoLog{}, benchGoLogCopy) }
func BenchmarkTracing(b *testing.B)     { benchParse(b, Tracing{}, benchTracing) }
func BenchmarkLogrus(b *testing.B)      { benchParse(b, Logrus{}, benchLogrus) }
func BenchmarkLogfmt(b *testing.B)      { benchParse(b, Logfmt{}, benchLogfmt) }
func BenchmarkJSON(b *testing.B)        { benchParse(b, JSON{}, benchJSON) }

func BenchmarkRegex(b *testing.B) {
	p, err := NewRegex(`^(?P<time>\S+)\t(?P<level>[A-Z]+)\t(?P<logger>[^\t]+)\t\S+\t(?P<msg>.*)$`)
	if err != nil {
		b.Fatal(err)
	}
	benchParse(b, p, benchGoLog)
}

// BenchmarkAuto parses a damocles-manager log, where go-log and tracing
// lines alternate: the worst case for remembering the last format.
func BenchmarkAuto(b *testing.B) {
	lines := [][]byte{benchGoLog, benchTracing, benchGoLogTail, benchTracing}
	p := &Auto{}
	var ev event.Event
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Parse(lines[i%len(lines)], &ev)
		i++
	}
}

func BenchmarkAutoGoLog(b *testing.B) { benchParse(b, &Auto{}, benchGoLog) }

func BenchmarkJoiner(b *testing.B) {
	lines := []event.Line{
		{Text: benchGoLog}, {Text: benchGoLogTail}, {Text: []byte("\t{\"proc\": \"pre\"}")}, {Text: benchTracing},
	}
	j := NewJoiner(0, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j.Add(lines[i%len(lines)])
		i++
	}
}
