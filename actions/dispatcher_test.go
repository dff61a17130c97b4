package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// auditLog collects a Dispatcher's records.
type auditLog struct {
	ch chan Record
}

func newAuditLog() *auditLog { return &auditLog{ch: make(chan Record, 1000)} }

func (a *auditLog) add(r Record) { a.ch <- r }

// next returns the next record, failing the test after a deadline.
func (a *auditLog) next(t *testing.T) Record {
	t.Helper()
	select {
	case r := <-a.ch:
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("no audit record")
	}
	return Record{}
}

// none asserts that no record is waiting.
func (a *auditLog) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-a.ch:
		t.Fatalf("unexpected record %+v", r)
	default:
	}
}

// dispatcher starts a Dispatcher with fast retries over the given
// actions, closed at the end of the test.
func dispatcher(t *testing.T, acts map[string]*Configured, opts ...Option) (*Dispatcher, *auditLog) {
	t.Helper()
	a := newAuditLog()
	opts = append([]Option{WithBackoff(10*time.Millisecond, 50*time.Millisecond)}, opts...)
	d := NewDispatcher(acts, hclog.NewNullLogger(), a.add, opts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Close(ctx)
	})
	return d, a
}

func fire(rule string, actions ...string) event.Firing {
	f := firing()
	f.ID = rule + "-id"
	f.Rule = rule
	f.Actions = actions
	return f
}

func hookAction(t *testing.T, url, extra string) *Configured {
	t.Helper()
	return buildYAML(t, "type: webhook\nurl: "+url+"\n"+extra, nil)
}

func TestRetryThenDelivered(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(500)
		}
	})
	d, audit := dispatcher(t, map[string]*Configured{"ops": hookAction(t, rc.URL, "")})
	d.Dispatch(fire("r", "ops"))
	r := audit.next(t)
	if r.Outcome != OutcomeOK || r.Attempts != 2 || r.Err != "" || r.Action != "ops" || r.Rule != "r" || r.FiringID != "r-id" {
		t.Errorf("record %+v", r)
	}
	if rc.count() != 2 {
		t.Errorf("receiver got %d requests, want 2", rc.count())
	}
}

func TestRefusalIsNotRetried(t *testing.T) {
	rc := newReceiver(t, replyWith(400, "bad payload"))
	d, audit := dispatcher(t, map[string]*Configured{"ops": hookAction(t, rc.URL, "")})
	d.Dispatch(fire("r", "ops"))
	r := audit.next(t)
	if r.Outcome != OutcomeFailed || r.Attempts != 1 || !strings.Contains(r.Err, "HTTP 400") {
		t.Errorf("record %+v", r)
	}
	if rc.count() != 1 {
		t.Errorf("receiver got %d requests, want 1", rc.count())
	}
}

func TestRetriesAreBounded(t *testing.T) {
	rc := newReceiver(t, replyWith(503, "down"))
	d, audit := dispatcher(t, map[string]*Configured{"ops": hookAction(t, rc.URL, "retries: 2\n")})
	d.Dispatch(fire("r", "ops"))
	r := audit.next(t)
	if r.Outcome != OutcomeFailed || r.Attempts != 3 || !strings.Contains(r.Err, "HTTP 503") {
		t.Errorf("record %+v", r)
	}
	if rc.count() != 3 {
		t.Errorf("receiver got %d requests, want 3", rc.count())
	}
}

func TestDingtalkErrcodeFails(t *testing.T) {
	rc := newReceiver(t, replyWith(200, `{"errcode":310000,"errmsg":"sign not match"}`))
	c := buildYAML(t, "type: webhook\nformat: dingtalk\nurl_file: url\nsecret_file: secret\n",
		map[string]string{"url": rc.URL + "/robot/send?access_token=" + token, "secret": secret})
	d, audit := dispatcher(t, map[string]*Configured{"ops": c})
	d.Dispatch(fire("r", "ops"))
	r := audit.next(t)
	if r.Outcome != OutcomeFailed || r.Attempts != 1 || !strings.Contains(r.Err, "dingtalk error 310000") {
		t.Errorf("record %+v", r)
	}
	if strings.Contains(r.Err, token) || strings.Contains(r.Err, secret) {
		t.Errorf("record shows a secret: %q", r.Err)
	}
}

// TestUnreachableReceiverKeepsSecret: every attempt fails on the network;
// the record says where, without the token.
func TestUnreachableReceiverKeepsSecret(t *testing.T) {
	rc := newReceiver(t, nil)
	u := rc.URL
	rc.Close()
	c := buildYAML(t, "type: webhook\nformat: wecom\nurl_file: url\nretries: 1\n",
		map[string]string{"url": u + "/cgi-bin/webhook/send?key=" + token})
	d, audit := dispatcher(t, map[string]*Configured{"ops": c})
	d.Dispatch(fire("r", "ops"))
	r := audit.next(t)
	if r.Outcome != OutcomeFailed || r.Attempts != 2 || !strings.Contains(r.Err, u+"/cgi-bin/webhook/send") {
		t.Errorf("record %+v", r)
	}
	if strings.Contains(r.Err, token) || strings.Contains(fmt.Sprintf("%+v", r), token) {
		t.Errorf("record shows the token: %+v", r)
	}
}

// TestSlowReceiverDoesNotBlock: Dispatch returns at once while the
// receiver holds every request; the firings arrive later, in order.
func TestSlowReceiverDoesNotBlock(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) { <-release })
	d, audit := dispatcher(t, map[string]*Configured{"ops": hookAction(t, rc.URL, "timeout: 1m\n")})
	start := time.Now()
	for i := 0; i < 20; i++ {
		d.Dispatch(fire(fmt.Sprintf("r%02d", i), "ops"))
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("Dispatch blocked for %v", el)
	}
	first := rc.next(t) // the first request is held by the receiver
	audit.none(t)
	close(release)
	rules := []string{ruleOf(t, first.Body)}
	for i := 1; i < 20; i++ {
		rules = append(rules, ruleOf(t, rc.next(t).Body))
	}
	for i, r := range rules {
		if want := fmt.Sprintf("r%02d", i); r != want {
			t.Fatalf("firing %d arrived as %s: order %v", i, r, rules)
		}
	}
	for i := 0; i < 20; i++ {
		if r := audit.next(t); r.Outcome != OutcomeOK {
			t.Errorf("record %+v", r)
		}
	}
}

func ruleOf(t *testing.T, body []byte) string {
	t.Helper()
	var b struct{ Rule string }
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	return b.Rule
}

func TestAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) { <-release })
	d, audit := dispatcher(t, map[string]*Configured{"ops": hookAction(t, rc.URL, "timeout: 200ms\nretries: 1\n")})
	start := time.Now()
	d.Dispatch(fire("r", "ops"))
	r := audit.next(t)
	if r.Outcome != OutcomeFailed || r.Attempts != 2 || !strings.Contains(r.Err, "timed out after 200ms") {
		t.Errorf("record %+v", r)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("two attempts of 200ms took %v", el)
	}
}

// TestRateLimitQueues: beyond the rate, firings wait their turn; none is
// dropped. With 2 per 400ms, the fifth request cannot leave before two
// full windows have passed since the first could (receive times are
// checked against the dispatch time, a bound that load cannot break).
func TestRateLimitQueues(t *testing.T) {
	rc := newReceiver(t, nil)
	d, audit := dispatcher(t, map[string]*Configured{"ops": hookAction(t, rc.URL, "rate: {count: 2, per: 400ms}\n")})
	start := time.Now()
	for i := 0; i < 5; i++ {
		d.Dispatch(fire(fmt.Sprintf("r%d", i), "ops"))
	}
	var at []time.Time
	for i := 0; i < 5; i++ {
		at = append(at, rc.next(t).At)
		if r := audit.next(t); r.Outcome != OutcomeOK {
			t.Errorf("record %+v", r)
		}
	}
	if gap := at[2].Sub(start); gap < 400*time.Millisecond {
		t.Errorf("third request %v after dispatch: more than 2 in the first window of 400ms", gap)
	}
	if gap := at[4].Sub(start); gap < 800*time.Millisecond {
		t.Errorf("fifth request %v after dispatch: more than 4 in two windows of 400ms", gap)
	}
}

func TestDefaultChatRate(t *testing.T) {
	c := buildYAML(t, "type: webhook\nformat: slack\nurl: http://127.0.0.1:1/services/x\n", nil)
	if c.Rate == nil || c.Rate.Count != 1 || c.Rate.Per.D() != time.Second {
		t.Errorf("slack rate %v", c.Rate)
	}
	c = buildYAML(t, "type: webhook\nformat: slack\nurl: http://127.0.0.1:1/services/x\nrate: {count: 5, per: 1s}\n", nil)
	if c.Rate.Count != 5 {
		t.Errorf("configured rate not kept: %v", c.Rate)
	}
}

func TestQueueFullDrops(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) { <-release })
	d, audit := dispatcher(t, map[string]*Configured{"ops": hookAction(t, rc.URL, "timeout: 1m\n")}, WithQueueSize(2))
	d.Dispatch(fire("running", "ops"))
	rc.next(t) // the worker holds it; the queue is empty
	d.Dispatch(fire("q1", "ops"))
	d.Dispatch(fire("q2", "ops"))
	d.Dispatch(fire("over", "ops"))
	r := audit.next(t)
	if r.Outcome != OutcomeDropped || r.Rule != "over" || !strings.Contains(r.Err, "queue full") || r.Attempts != 0 {
		t.Errorf("record %+v", r)
	}
	audit.none(t)
}

func TestUnknownActionFails(t *testing.T) {
	rc := newReceiver(t, nil)
	d, audit := dispatcher(t, map[string]*Configured{"ops": hookAction(t, rc.URL, "")})
	d.Dispatch(fire("r", "pager"))
	r := audit.next(t)
	if r.Outcome != OutcomeFailed || r.Action != "pager" || !strings.Contains(r.Err, `unknown action "pager"`) {
		t.Errorf("record %+v", r)
	}
}

// TestOneRecordPerAction: a firing naming several actions runs each, with
// one record each; a failing one does not stop the others.
func TestOneRecordPerAction(t *testing.T) {
	ok := newReceiver(t, nil)
	bad := newReceiver(t, replyWith(403, "forbidden"))
	x, _ := execAction(t, "fail", nil, nil)
	d, audit := dispatcher(t, map[string]*Configured{
		"ok":   hookAction(t, ok.URL, ""),
		"bad":  hookAction(t, bad.URL, ""),
		"exec": {Name: "exec", Common: Common{Type: "exec", Retries: new(int)}, Action: x},
	})
	d.Dispatch(fire("r", "ok", "bad", "exec"))
	got := map[string]Record{}
	for i := 0; i < 3; i++ {
		r := audit.next(t)
		got[r.Action] = r
	}
	if got["ok"].Outcome != OutcomeOK || got["bad"].Outcome != OutcomeFailed || got["exec"].Outcome != OutcomeFailed {
		t.Errorf("records %+v", got)
	}
	if !strings.Contains(got["exec"].Output, "boom: disk full") || !strings.Contains(got["exec"].Err, "exit status 3") {
		t.Errorf("exec record %+v", got["exec"])
	}
	audit.none(t)
}

// TestUpdate: after an update, new firings go to the new set; an action
// that was removed is unknown.
func TestUpdate(t *testing.T) {
	old := newReceiver(t, nil)
	cur := newReceiver(t, nil)
	d, audit := dispatcher(t, map[string]*Configured{"ops": hookAction(t, old.URL, ""), "gone": hookAction(t, old.URL, "")})
	d.Dispatch(fire("before", "ops"))
	if r := audit.next(t); r.Outcome != OutcomeOK {
		t.Fatalf("record %+v", r)
	}
	d.Update(map[string]*Configured{"ops": hookAction(t, cur.URL, "")})
	d.Dispatch(fire("after", "ops", "gone"))
	recs := map[string]Record{}
	for i := 0; i < 2; i++ {
		r := audit.next(t)
		recs[r.Action] = r
	}
	if recs["ops"].Outcome != OutcomeOK || recs["gone"].Outcome != OutcomeFailed {
		t.Errorf("records %+v", recs)
	}
	if ruleOf(t, old.next(t).Body) != "before" || ruleOf(t, cur.next(t).Body) != "after" {
		t.Error("firings went to the wrong receiver")
	}
	if old.count() != 1 {
		t.Errorf("the old receiver got %d requests", old.count())
	}
}

// TestUpdateKeepsOrder: firings queued before a reload run before those
// dispatched after it, for the same action name.
func TestUpdateKeepsOrder(t *testing.T) {
	release := make(chan struct{})
	var order []string
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-release
		}
	})
	d, audit := dispatcher(t, map[string]*Configured{"ops": hookAction(t, rc.URL, "timeout: 1m\n")})
	d.Dispatch(fire("a1", "ops"))
	rc.next(t) // a1 is held
	d.Dispatch(fire("a2", "ops"))
	d.Update(map[string]*Configured{"ops": hookAction(t, rc.URL, "timeout: 1m\n")})
	d.Dispatch(fire("b1", "ops"))
	close(release)
	for i := 0; i < 2; i++ {
		order = append(order, ruleOf(t, rc.next(t).Body))
	}
	if strings.Join(order, ",") != "a2,b1" {
		t.Errorf("order after the held one: %v", order)
	}
	for i := 0; i < 3; i++ {
		if r := audit.next(t); r.Outcome != OutcomeOK {
			t.Errorf("record %+v", r)
		}
	}
}

// TestCloseDrains: Close lets queued firings finish before it returns.
func TestCloseDrains(t *testing.T) {
	rc := newReceiver(t, nil)
	a := newAuditLog()
	d := NewDispatcher(map[string]*Configured{"ops": hookAction(t, rc.URL, "rate: {count: 1, per: 100ms}\n")}, nil, a.add)
	for i := 0; i < 4; i++ {
		d.Dispatch(fire(fmt.Sprintf("r%d", i), "ops"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(a.ch) != 4 {
		t.Fatalf("%d records when Close returned, want 4", len(a.ch))
	}
	for i := 0; i < 4; i++ {
		if r := a.next(t); r.Outcome != OutcomeOK {
			t.Errorf("record %+v", r)
		}
	}
	d.Dispatch(fire("late", "ops"))
	if r := a.next(t); r.Outcome != OutcomeDropped || !strings.Contains(r.Err, "stopping") {
		t.Errorf("firing after Close: %+v", r)
	}
}

// TestCloseDeadline: what has not finished when Close's context ends is
// cancelled and recorded as dropped, with the reason.
func TestCloseDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) { <-release })
	x, out := execAction(t, "tree", nil, nil)
	a := newAuditLog()
	d := NewDispatcher(map[string]*Configured{
		"ops":  hookAction(t, rc.URL, "timeout: 1m\n"),
		"exec": {Name: "exec", Common: Common{Type: "exec", Timeout: yamlconf.Duration(time.Minute)}, Action: x},
	}, nil, a.add)
	for i := 0; i < 3; i++ {
		d.Dispatch(fire(fmt.Sprintf("r%d", i), "ops", "exec"))
	}
	rc.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := d.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "6 action runs dropped") {
		t.Errorf("Close: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Close took %v", el)
	}
	if len(a.ch) != 6 {
		t.Fatalf("%d records when Close returned, want 6", len(a.ch))
	}
	var cancelled, notRun int
	for i := 0; i < 6; i++ {
		r := a.next(t)
		if r.Outcome != OutcomeDropped {
			t.Errorf("record %+v", r)
		}
		switch {
		case strings.HasPrefix(r.Err, "cancelled: venus-medic stopped"):
			cancelled++
		case strings.HasPrefix(r.Err, "not run: venus-medic stopped"):
			notRun++
		default:
			t.Errorf("record without a reason: %+v", r)
		}
	}
	if cancelled != 2 || notRun != 4 {
		t.Errorf("%d cancelled, %d not run; want 2 and 4", cancelled, notRun)
	}
	// The running command's process group is gone too.
	if b, err := os.ReadFile(out); err == nil {
		pid, _ := strconv.Atoi(string(b))
		waitDead(t, pid)
	}
}

type panicky struct{}

func (panicky) Do(context.Context, event.Firing) (bool, error) { panic("nil map") }

// TestPanickingActionFails: a bug in an action is a failed record, not a
// dead daemon, and the action keeps running later firings.
func TestPanickingActionFails(t *testing.T) {
	d, audit := dispatcher(t, map[string]*Configured{"p": {Name: "p", Action: panicky{}}})
	for i := 0; i < 2; i++ {
		d.Dispatch(fire("r", "p"))
		if r := audit.next(t); r.Outcome != OutcomeFailed || r.Attempts != 1 || !strings.Contains(r.Err, "panicked: nil map") {
			t.Errorf("record %+v", r)
		}
	}
}

// TestRetryAfterIsHonoured: a 429 with Retry-After delays the retry at
// least that long, longer than the backoff would.
func TestRetryAfterIsHonoured(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	d, audit := dispatcher(t, map[string]*Configured{"ops": hookAction(t, rc.URL, "")}, WithBackoff(10*time.Millisecond, 5*time.Second))
	d.Dispatch(fire("r", "ops"))
	first, second := rc.next(t), rc.next(t)
	if gap := second.At.Sub(first.At); gap < 990*time.Millisecond {
		t.Errorf("retried after %v despite Retry-After: 1", gap)
	}
	if r := audit.next(t); r.Outcome != OutcomeOK || r.Attempts != 2 {
		t.Errorf("record %+v", r)
	}
}

// TestThenChain: an action's `then` runs after it with its outcome in the
// summary; a configuration that loops (a then b, b then a) stops instead
// of running forever.
func TestThenChain(t *testing.T) {
	rc := newReceiver(t, nil)
	d, audit := dispatcher(t, map[string]*Configured{
		"a": hookAction(t, rc.URL+"/a", "then: [b]\n"),
		"b": hookAction(t, rc.URL+"/b", "then: [a]\n"),
	})
	d.Dispatch(fire("r", "a"))
	var paths []string
	for i := 0; i < 3; i++ {
		paths = append(paths, rc.next(t).Path)
		if r := audit.next(t); r.Outcome != OutcomeOK {
			t.Errorf("record %+v", r)
		}
	}
	if strings.Join(paths, " ") != "/a /b /a" {
		t.Errorf("ran %v", paths)
	}
	select {
	case g := <-rc.got:
		t.Fatalf("the loop went on: %s", g.Path)
	case <-time.After(300 * time.Millisecond):
	}
	audit.none(t)
}
