package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// alertmanagerConfig is the configuration of an alertmanager action (SPEC §3).
type alertmanagerConfig struct {
	Common `yaml:",inline"`
	// URL is Alertmanager's base URL, or a list of them (an HA pair).
	URL    yaml.Node         `yaml:"url"`
	Labels map[string]string `yaml:"labels"`
	// ResolveTimeout is how long a firing stays active without news;
	// DefaultResolveTimeout when not set.
	ResolveTimeout yamlconf.Duration `yaml:"resolve_timeout"`
	// GeneratorURL is a link sent with every alert (a dashboard).
	GeneratorURL string `yaml:"generator_url"`
}

// DefaultResolveTimeout is how long an alert stays active in Alertmanager
// when no resolution comes, so that a rule without `resolve` does not leave
// an alert active for ever.
const DefaultResolveTimeout = time.Hour

// Caps on what an alert carries from the log.
const (
	maxAlertLabel      = 1024
	maxAlertAnnotation = 4096
	// maxOpenAlerts bounds the alerts remembered for their resolution.
	maxOpenAlerts = 4096
)

// The labels every alert has; a configured label may not take their names.
var builtinLabels = []string{"alertname", "severity", "host", "source", "group"}

// labelName is Prometheus' label name syntax.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Alertmanager posts firings and their resolutions to Alertmanager's API
// v2 (POST {url}/api/v2/alerts), so that a fleet of hosts deduplicates,
// groups and silences in one place.
//
// Each alert's labels are alertname (the rule), severity, host, source,
// group (when the rule's threshold has a `by`) and the configured labels,
// whose values are templates rendered over the firing into one value
// each. A firing is sent with endsAt a resolve_timeout from now, so an
// alert nobody resolves expires; a resolved firing is sent with the same
// labels as the firings of its rule and group it resolves (remembered
// since they were sent) and endsAt the resolving event's time, which
// Alertmanager shows as resolved.
//
// With several URLs (an HA pair), every one is posted to, and the
// delivery succeeds when any of them took it. Errors show the URLs only
// as redactURL does.
type Alertmanager struct {
	targets        []amTarget
	labels         []amLabel
	resolveTimeout time.Duration
	generatorURL   string
	client         *http.Client
	now            func() time.Time

	mu   sync.Mutex
	open map[string]*openAlert // by rule and group: what was sent, for the resolution
}

// amTarget is one Alertmanager.
type amTarget struct {
	url   yamlconf.Secret // the alerts endpoint
	shown string
	scrub scrubber
}

// amLabel is a configured label.
type amLabel struct {
	name string
	tmpl *event.Template
}

// openAlert is what was sent for a rule and group that is not resolved:
// each distinct label set with its start.
type openAlert struct {
	sets []sentLabels
	last time.Time // when a firing was last sent
}

type sentLabels struct {
	labels   map[string]string
	startsAt time.Time
}

// amResult is how one Alertmanager answered.
type amResult struct {
	retry bool
	err   error
}

// amAlert is one alert of API v2's postable alerts.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func newAlertmanager(s *spec) (Action, error) {
	var c alertmanagerConfig
	if err := s.decode(&c); err != nil {
		return nil, err
	}
	a, err := c.validate(s)
	if err != nil {
		return nil, err // not a typed nil in an Action
	}
	return a, nil
}

// validate checks the configuration and parses the label templates.
func (c *alertmanagerConfig) validate(s *spec) (*Alertmanager, error) {
	var errs []error
	a := &Alertmanager{
		resolveTimeout: DefaultResolveTimeout,
		client:         client,
		now:            time.Now,
		open:           map[string]*openAlert{},
	}

	un := &c.URL
	var urls []*yaml.Node
	switch {
	case un.Kind == 0 || un.Tag == "!!null" || (un.Kind == yaml.SequenceNode && len(un.Content) == 0):
		errs = append(errs, s.errAt(s.value("url"), "alertmanager %q needs url: Alertmanager's address, e.g. http://127.0.0.1:9093, or a list of them", s.name))
	case un.Kind == yaml.ScalarNode:
		urls = []*yaml.Node{un}
	case un.Kind == yaml.SequenceNode:
		urls = un.Content
	default:
		errs = append(errs, s.errAt(un, "url must be an address or a list of addresses"))
	}
	seen := map[string]bool{}
	for i, n := range urls {
		what := "url"
		if un.Kind == yaml.SequenceNode {
			what = fmt.Sprintf("url[%d]", i)
		}
		if n.Kind != yaml.ScalarNode {
			errs = append(errs, s.errAt(n, "%s must be an address", what))
			continue
		}
		if n.Value == "" {
			errs = append(errs, s.errAt(n, "%s must not be empty", what))
			continue
		}
		if err := checkURL(n.Value); err != nil {
			errs = append(errs, s.errAt(n, "%s %s: %v", what, redactURL(n.Value), err))
			continue
		}
		ep := alertsEndpoint(n.Value)
		if seen[ep] {
			errs = append(errs, s.errAt(n, "%s %s is listed twice", what, redactURL(n.Value)))
			continue
		}
		seen[ep] = true
		shown := redactURL(n.Value)
		var also []string
		if strings.TrimRight(n.Value, "/") != shown {
			also = append(also, n.Value) // it holds credentials or a token
		}
		a.targets = append(a.targets, amTarget{url: yamlconf.Secret(ep), shown: shown, scrub: newScrubber(ep, also...)})
	}

	ln := s.value("labels")
	names := make([]string, 0, len(c.Labels))
	for name := range c.Labels {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		k, v := yamlconf.Pair(ln, name)
		switch {
		case !labelName.MatchString(name):
			errs = append(errs, s.errAt(k, "bad label name %q: use letters, digits and _, not starting with a digit", name))
			continue
		case strings.HasPrefix(name, "__"):
			errs = append(errs, s.errAt(k, "bad label name %q: names starting with __ are reserved", name))
			continue
		case isBuiltinLabel(name):
			errs = append(errs, s.errAt(k, "label %q is set from the firing; the configured labels are added to %s", name, strings.Join(builtinLabels, ", ")))
			continue
		}
		t, err := s.template("label "+name+" template", v, c.Labels[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.labels = append(a.labels, amLabel{name: name, tmpl: t})
	}

	if _, v := s.pair("resolve_timeout"); v != nil {
		if c.ResolveTimeout <= 0 {
			errs = append(errs, s.errAt(v, "resolve_timeout must be longer than 0, e.g. 1h"))
		} else {
			a.resolveTimeout = c.ResolveTimeout.D()
		}
	}
	if c.GeneratorURL != "" {
		if err := checkURL(c.GeneratorURL); err != nil {
			errs = append(errs, s.errAt(s.value("generator_url"), "generator_url: %v", err))
		} else {
			a.generatorURL = c.GeneratorURL
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a, nil
}

func isBuiltinLabel(name string) bool {
	for _, b := range builtinLabels {
		if name == b {
			return true
		}
	}
	return false
}

// alertsEndpoint returns the API v2 alerts endpoint of base URL u (which
// may have a path prefix, Alertmanager's --web.route-prefix, and may
// already be the endpoint).
func alertsEndpoint(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	path := strings.TrimRight(p.Path, "/")
	if !strings.HasSuffix(path, "/api/v2/alerts") {
		path += "/api/v2/alerts"
	}
	p.Path = path
	p.RawPath = ""
	return p.String()
}

// String describes the action without secrets.
func (a *Alertmanager) String() string {
	shown := make([]string, len(a.targets))
	for i, t := range a.targets {
		shown[i] = t.shown
	}
	return "alertmanager " + strings.Join(shown, ", ")
}

// Do posts firing f once.
func (a *Alertmanager) Do(ctx context.Context, f event.Firing) (retry bool, err error) {
	_, retry, err = a.DoOutput(ctx, f)
	return retry, err
}

// DoOutput posts firing f (or its resolution) to every Alertmanager at
// once. It succeeds when any of them took the alerts; the output says how
// each one answered. When all failed, it is worth retrying if any failure
// was (a network error, 429, 5xx); a refusal (400: Alertmanager's own
// reason is in the error) is not.
func (a *Alertmanager) DoOutput(ctx context.Context, f event.Firing) (output string, retry bool, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	now := a.now()
	alerts, commit, err := a.alerts(&f, now)
	if err != nil {
		return "", false, err
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return "", false, fmt.Errorf("alertmanager body: %w", err)
	}

	results := make([]amResult, len(a.targets))
	var wg sync.WaitGroup
	for i := range a.targets {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, e := a.post(ctx, &a.targets[i], body)
			results[i] = amResult{r, e}
		}(i)
	}
	wg.Wait()

	var lines []string
	var errs []string
	delivered := false
	what := "firing"
	if f.Resolved {
		what = "resolution"
	}
	for i, r := range results {
		t := &a.targets[i]
		if r.err == nil {
			delivered = true
			lines = append(lines, fmt.Sprintf("%s: %s of %d alert(s) accepted", t.shown, what, len(alerts)))
			continue
		}
		retry = retry || r.retry
		lines = append(lines, fmt.Sprintf("%s: %v", t.shown, r.err))
		errs = append(errs, r.err.Error())
	}
	output = strings.Join(lines, "\n")
	if delivered {
		commit()
		return output, false, nil
	}
	err = errors.New(strings.Join(errs, "; "))
	if len(results) == 1 {
		err = results[0].err // keeps a Retry-After and the context sentinels
	} else if ra := maxRetryAfter(results); ra > 0 {
		err = withRetryAfter(err, ra)
	}
	if ctx.Err() != nil && len(results) > 1 {
		err = &scrubbed{msg: err.Error(), is: ctx.Err()}
	}
	return output, retry, err
}

// maxRetryAfter is the longest Retry-After the Alertmanagers asked for.
func maxRetryAfter(rs []amResult) time.Duration {
	var d time.Duration
	for _, r := range rs {
		var ra interface{ RetryAfter() time.Duration }
		if r.err != nil && errors.As(r.err, &ra) && ra.RetryAfter() > d {
			d = ra.RetryAfter()
		}
	}
	return d
}

// post sends body to one Alertmanager.
func (a *Alertmanager) post(ctx context.Context, t *amTarget, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url.Reveal(), bytes.NewReader(body))
	if err != nil {
		return false, t.scrub.err(fmt.Errorf("post %s: %w", t.shown, unwrapURLErr(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "venus-medic")
	resp, err := a.client.Do(req)
	if err != nil {
		return true, t.scrub.err(fmt.Errorf("post %s: %w", t.shown, unwrapURLErr(err)))
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReply))
	if retry, err := checkHTTP(resp.StatusCode, resp.Header, amReason(reply)); err != nil {
		return retry, t.scrub.err(fmt.Errorf("post %s: %w", t.shown, err))
	}
	return false, nil
}

// amReason returns Alertmanager's reason from an error reply: the API
// answers a refusal with a JSON string.
func amReason(b []byte) []byte {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return []byte(s)
	}
	return b
}

// alerts returns the alerts to post for firing f at time now, and a
// function that records them as sent, to call once one Alertmanager took
// them.
func (a *Alertmanager) alerts(f *event.Firing, now time.Time) ([]amAlert, func(), error) {
	labels, err := a.labelsOf(f)
	if err != nil {
		return nil, nil, err
	}
	ann := map[string]string{
		"summary":     capText(strings.ToValidUTF8(f.Summary, "\uFFFD"), maxAlertAnnotation),
		"description": capText(strings.ToValidUTF8(f.Event.Line, "\uFFFD"), maxAlertAnnotation),
		"rule":        f.Rule,
		"time":        f.Event.Time.Format(time.RFC3339Nano),
	}
	at := f.Event.Time
	if at.IsZero() || at.After(now) {
		at = now // a clock ahead of ours must not make endsAt precede startsAt
	}
	key := f.Rule + "\x00" + f.Group

	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(now)

	if !f.Resolved {
		alert := amAlert{
			Labels: labels, Annotations: ann,
			StartsAt:     stamp(at),
			EndsAt:       stamp(now.Add(a.resolveTimeout)),
			GeneratorURL: a.generatorURL,
		}
		commit := func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.remember(key, labels, at, now)
		}
		return []amAlert{alert}, commit, nil
	}

	// A resolution: the label sets sent for this rule and group, or this
	// firing's own labels when none is remembered (after a restart).
	sets := []sentLabels{{labels: labels, startsAt: at}}
	if o := a.open[key]; o != nil && len(o.sets) > 0 {
		sets = o.sets
	}
	out := make([]amAlert, 0, len(sets))
	for _, set := range sets {
		start, end := set.startsAt, at
		if end.Before(start) {
			end = start
		}
		out = append(out, amAlert{
			Labels: set.labels, Annotations: ann,
			StartsAt: stamp(start), EndsAt: stamp(end),
			GeneratorURL: a.generatorURL,
		})
	}
	commit := func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.open, key)
	}
	return out, commit, nil
}

// labelsOf returns the labels of firing f.
func (a *Alertmanager) labelsOf(f *event.Firing) (map[string]string, error) {
	labels := map[string]string{
		"alertname": f.Rule,
		"severity":  f.Severity,
		"host":      f.Event.Host,
		"source":    f.Event.Source,
	}
	if f.Group != "" {
		labels["group"] = f.Group
	}
	for _, l := range a.labels {
		v, err := l.tmpl.Render(f)
		if err != nil {
			return nil, fmt.Errorf("label %s: %w", l.name, err)
		}
		labels[l.name] = v
	}
	for k, v := range labels {
		v = capText(strings.ToValidUTF8(v, "\uFFFD"), maxAlertLabel)
		if v == "" {
			delete(labels, k) // Alertmanager drops empty labels too
			continue
		}
		labels[k] = v
	}
	return labels, nil
}

// remember records a label set sent for key; a.mu is held.
func (a *Alertmanager) remember(key string, labels map[string]string, startsAt, now time.Time) {
	o := a.open[key]
	if o == nil {
		if len(a.open) >= maxOpenAlerts {
			a.evictOldest()
		}
		o = &openAlert{}
		a.open[key] = o
	}
	o.last = now
	for i := range o.sets {
		if sameLabels(o.sets[i].labels, labels) {
			if startsAt.Before(o.sets[i].startsAt) {
				o.sets[i].startsAt = startsAt
			}
			return
		}
	}
	if len(o.sets) >= 16 {
		o.sets = o.sets[1:]
	}
	o.sets = append(o.sets, sentLabels{labels: labels, startsAt: startsAt})
}

// expire forgets what Alertmanager has let expire itself; a.mu is held.
func (a *Alertmanager) expire(now time.Time) {
	for k, o := range a.open {
		if now.Sub(o.last) > a.resolveTimeout {
			delete(a.open, k)
		}
	}
}

func (a *Alertmanager) evictOldest() {
	var oldest string
	var at time.Time
	for k, o := range a.open {
		if oldest == "" || o.last.Before(at) {
			oldest, at = k, o.last
		}
	}
	delete(a.open, oldest)
}

func sameLabels(x, y map[string]string) bool {
	if len(x) != len(y) {
		return false
	}
	for k, v := range x {
		if w, ok := y[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// stamp formats a time as Alertmanager reads it.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
