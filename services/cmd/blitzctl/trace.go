package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// trace prints one trace from Jaeger's JSON API as a waterfall on the
// terminal. The Jaeger this project builds from the Go module proxy has no UI
// assets, so its /trace/<id> page shows nothing; its JSON API is complete.

const defaultJaegerURL = "http://127.0.0.1:16686"

// errTraceNotFound is Jaeger answering 404, or 200 with no trace.
var errTraceNotFound = errors.New("trace not found")

func traceCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	jaeger := fs.String("jaeger", "", "Jaeger query URL (default: BLITZBUY_JAEGER_URL, else "+defaultJaegerURL+")")
	width := fs.Int("width", 40, "width of the timing bar in columns")
	ascii := fs.Bool("ascii", false, "draw with ASCII only (the default when the locale is not UTF-8)")
	links := fs.Int("links", 0, "list at most this many span links per span (0: all)")
	// Flags may come before or after the id.
	usage := fmt.Errorf("usage: blitzctl trace [--jaeger URL] [--width 40] [--ascii] [--links N] TRACE_ID|TRACEPARENT")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usage
	}
	arg := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usage
	}
	id, err := parseTraceID(arg)
	if err != nil {
		return err
	}
	if *width < 10 || *width > 400 {
		return fmt.Errorf("--width must be 10..400")
	}
	base := jaegerBase(*jaeger)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tr, err := fetchJaegerTrace(ctx, http.DefaultClient, base, id)
	if err != nil {
		return err
	}
	for _, l := range renderWaterfall(tr, renderOptions{width: *width, ascii: *ascii || !utf8Locale(), maxLinks: *links}) {
		fmt.Fprintln(stdout, l)
	}
	return nil
}

// jaegerBase is the Jaeger query URL: the flag, else BLITZBUY_JAEGER_URL,
// else the local stack's address.
func jaegerBase(flagValue string) string {
	for _, v := range []string{flagValue, os.Getenv("BLITZBUY_JAEGER_URL"), defaultJaegerURL} {
		if v != "" {
			return strings.TrimRight(v, "/")
		}
	}
	return defaultJaegerURL
}

// utf8Locale reports whether the locale the terminal runs in is UTF-8, as
// the C library decides it: LC_ALL, else LC_CTYPE, else LANG.
func utf8Locale() bool {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := os.Getenv(k); v != "" {
			v = strings.ToLower(v)
			return strings.Contains(v, "utf-8") || strings.Contains(v, "utf8")
		}
	}
	return false
}

var (
	traceIDRe     = regexp.MustCompile(`^[0-9a-f]{32}$`)
	traceparentRe = regexp.MustCompile(`^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$`)
)

// parseTraceID accepts a trace id (32 hex digits) or a whole W3C
// traceparent / traceresponse value (00-<trace>-<span>-<flags>).
func parseTraceID(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if traceIDRe.MatchString(s) {
		return s, nil
	}
	if m := traceparentRe.FindStringSubmatch(s); m != nil {
		return m[1], nil
	}
	return "", fmt.Errorf("%q is neither a trace id (32 hex digits) nor a traceparent (00-<trace id>-<span id>-<flags>)", s)
}

// jaegerTrace is one trace as Jaeger's query API (/api/traces/<id>) returns it.
type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
	Warnings  []string                 `json:"warnings"`
}

type jaegerSpan struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	OperationName string      `json:"operationName"`
	References    []jaegerRef `json:"references"`
	StartTime     int64       `json:"startTime"` // µs since the epoch
	Duration      int64       `json:"duration"`  // µs
	Tags          []jaegerKV  `json:"tags"`
	Logs          []struct {
		Fields []jaegerKV `json:"fields"`
	} `json:"logs"`
	ProcessID string   `json:"processID"`
	Warnings  []string `json:"warnings"`
}

type jaegerRef struct {
	RefType string `json:"refType"` // CHILD_OF (the parent) or FOLLOWS_FROM (a span link)
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type jaegerKV struct {
	Key   string `json:"key"`
	Value any    `json:"value"` // string, bool, json.Number
}

type jaegerProcess struct {
	ServiceName string `json:"serviceName"`
}

// fetchJaegerTrace reads trace id from the Jaeger query API at base.
func fetchJaegerTrace(ctx context.Context, client *http.Client, base, id string) (jaegerTrace, error) {
	u := base + "/api/traces/" + url.PathEscape(id)
	var body struct {
		Data []jaegerTrace `json:"data"`
	}
	status, err := getJaeger(ctx, client, u, &body)
	if err != nil && status != http.StatusNotFound {
		return jaegerTrace{}, err
	}
	if status == http.StatusNotFound || len(body.Data) == 0 || len(body.Data[0].Spans) == 0 {
		return jaegerTrace{}, fmt.Errorf("%w: Jaeger at %s has no trace %s (it keeps traces in memory only: "+
			"it has those recorded, and sampled, since it last started)", errTraceNotFound, base, id)
	}
	return body.Data[0], nil
}

// writtenTrace waits until Jaeger holds one of traces (accepted orders'
// trace ids) whole: the API's server span and the writer's batch insert with
// its PostgreSQL spans. The writer batches orders, and only the first order
// of a batch has the insert in its trace (the others' traces are linked from
// it), so it searches the writer's batch inserts since since for one of
// them. It returns ctx's error when none arrives in time.
func writtenTrace(ctx context.Context, client *http.Client, base string, traces map[string]bool, since time.Time) (string, error) {
	for {
		q := url.Values{"service": {"order-writer"}, "operation": {"orders batch insert"}, "limit": {"1000"},
			"start": {strconv.FormatInt(since.Add(-time.Second).UnixMicro(), 10)},
			"end":   {strconv.FormatInt(time.Now().Add(time.Minute).UnixMicro(), 10)}}
		var body struct {
			Data []jaegerTrace `json:"data"`
		}
		if _, err := getJaeger(ctx, client, base+"/api/traces?"+q.Encode(), &body); err != nil && ctx.Err() == nil {
			return "", err
		}
		for _, tr := range body.Data {
			if traces[tr.TraceID] && whole(tr) {
				return tr.TraceID, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// whole reports whether a trace has the API's server span and a PostgreSQL
// span under the writer's batch insert (each service exports in batches,
// so one side can arrive seconds before the other).
func whole(tr jaegerTrace) bool {
	server, inserts, pg := false, map[string]bool{}, false
	for _, sp := range tr.Spans {
		if tr.Processes[sp.ProcessID].ServiceName == "order-api" && slices.ContainsFunc(sp.Tags, func(t jaegerKV) bool {
			return t.Key == "span.kind" && t.Value == "server"
		}) {
			server = true
		}
		if sp.OperationName == "orders batch insert" {
			inserts[sp.SpanID] = true
		}
	}
	for _, sp := range tr.Spans {
		for _, r := range sp.References {
			pg = pg || r.RefType == "CHILD_OF" && inserts[r.SpanID] && sp.OperationName != "pool.acquire"
		}
	}
	return server && pg
}

// getJaeger GETs a Jaeger query API URL and decodes its JSON answer into
// into (numbers kept exact: Kafka offsets are int64). It returns the status.
func getJaeger(ctx context.Context, client *http.Client, u string, into any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("jaeger unreachable (is the stack up? go tool task status): %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("jaeger: GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("jaeger: GET %s: %s: %.200s", u, resp.Status, b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return resp.StatusCode, fmt.Errorf("jaeger: GET %s: %w", u, err)
	}
	return resp.StatusCode, nil
}

// renderOptions shape the waterfall: the bar's width in columns, ASCII
// instead of block and arrow characters, and at most how many span links a
// span lists (0: all; a batch of 100 orders links 99).
type renderOptions struct {
	width    int
	ascii    bool
	maxLinks int
}

// glyphs are the characters a waterfall is drawn with.
type glyphs struct{ full, thin, err, link, ellipsis, micro string }

var (
	unicodeGlyphs = glyphs{full: "█", thin: "▏", err: "✗ ", link: "↪ link to ", ellipsis: "…", micro: "µs"}
	asciiGlyphs   = glyphs{full: "#", thin: "|", err: "! ", link: "-> link to ", ellipsis: "~", micro: "us"}
)

// row is one span placed in the tree.
type row struct {
	span          *jaegerSpan
	service       string
	depth         int
	missingParent string      // the CHILD_OF span id this trace lacks ("" if none)
	links         []jaegerRef // references other than the parent
}

// treeRows orders a trace's spans depth first: each span under its parent
// (its CHILD_OF reference), children and roots by start time. A span whose
// parent is not in the trace is a root and says which parent it lacks.
func treeRows(tr jaegerTrace) []row {
	byID := make(map[string]*jaegerSpan, len(tr.Spans))
	for i := range tr.Spans {
		byID[tr.Spans[i].SpanID] = &tr.Spans[i]
	}
	children := map[string][]*jaegerSpan{}
	var roots []*jaegerSpan
	info := map[string]row{}
	for i := range tr.Spans {
		sp := &tr.Spans[i]
		r := row{span: sp, service: tr.Processes[sp.ProcessID].ServiceName}
		parent := ""
		for _, ref := range sp.References {
			if parent == "" && ref.RefType == "CHILD_OF" && ref.TraceID == sp.TraceID && ref.SpanID != sp.SpanID {
				parent = ref.SpanID
				continue
			}
			r.links = append(r.links, ref)
		}
		switch {
		case parent == "":
			roots = append(roots, sp)
		case byID[parent] == nil:
			r.missingParent = parent
			roots = append(roots, sp)
		default:
			children[parent] = append(children[parent], sp)
		}
		info[sp.SpanID] = r
	}
	byStart := func(s []*jaegerSpan) {
		sort.SliceStable(s, func(i, j int) bool {
			if s[i].StartTime != s[j].StartTime {
				return s[i].StartTime < s[j].StartTime
			}
			return s[i].SpanID < s[j].SpanID
		})
	}
	byStart(roots)
	rows := make([]row, 0, len(tr.Spans))
	seen := map[string]bool{}
	var walk func(sp *jaegerSpan, depth int)
	walk = func(sp *jaegerSpan, depth int) {
		if seen[sp.SpanID] { // a malformed trace's cycle, or a duplicate id
			return
		}
		seen[sp.SpanID] = true
		r := info[sp.SpanID]
		r.depth = depth
		rows = append(rows, r)
		kids := children[sp.SpanID]
		byStart(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, sp := range roots {
		walk(sp, 0)
	}
	// Spans only reachable through a cycle: shown at the root, not dropped.
	for i := range tr.Spans {
		if !seen[tr.Spans[i].SpanID] {
			walk(&tr.Spans[i], 0)
		}
	}
	return rows
}

const maxOpWidth = 60

// renderWaterfall draws a trace: a summary line, a header with the time
// scale, then one line per span (service, operation indented by depth, start
// offset from the trace's start, duration, a bar placed on the time scale),
// each followed by its key attributes, error and span links on indented
// lines. It is a pure function of the trace.
func renderWaterfall(tr jaegerTrace, o renderOptions) []string {
	g := unicodeGlyphs
	if o.ascii {
		g = asciiGlyphs
	}
	if o.width <= 0 {
		o.width = 40
	}
	rows := treeRows(tr)
	if len(rows) == 0 {
		return []string{"trace " + tr.TraceID + ": no spans"}
	}
	t0, t1 := rows[0].span.StartTime, rows[0].span.StartTime+rows[0].span.Duration
	services := map[string]bool{}
	svcW, opW := len("SERVICE"), len("OPERATION")
	for _, r := range rows {
		t0 = min(t0, r.span.StartTime)
		t1 = max(t1, r.span.StartTime+r.span.Duration)
		services[r.service] = true
		svcW = max(svcW, utf8.RuneCountInString(r.service))
		opW = max(opW, utf8.RuneCountInString(opLabel(r, g)))
	}
	opW = min(opW, maxOpWidth)
	total := t1 - t0

	lines := []string{fmt.Sprintf("trace %s: %s, %s, %s", tr.TraceID, plural(len(rows), "span"), plural(len(services), "service"), fmtMicros(total, g))}
	scaleEnd := fmtMicros(total, g)
	scale := "0" + strings.Repeat(" ", max(1, o.width-1-utf8.RuneCountInString(scaleEnd))) + scaleEnd
	lines = append(lines, strings.TrimRight(fmt.Sprintf("%-*s  %-*s  %10s  %10s  %s", svcW, "SERVICE", opW, "OPERATION", "START", "DURATION", scale), " "))
	detailPad := strings.Repeat(" ", svcW+2)
	for _, r := range rows {
		sp := r.span
		op := truncate(opLabel(r, g), opW, g.ellipsis)
		line := fmt.Sprintf("%-*s  %-*s  %10s  %10s  %s", svcW, r.service, opW, op,
			fmtMicros(sp.StartTime-t0, g), fmtMicros(sp.Duration, g), bar(sp.StartTime-t0, sp.Duration, total, o.width, g))
		lines = append(lines, strings.TrimRight(line, " "))
		indent := detailPad + strings.Repeat("  ", r.depth) + "  "
		if msg, failed := spanError(sp); failed {
			lines = append(lines, indent+g.err+"error"+orEmpty(": ", msg))
		}
		if attrs := keyAttributes(sp, g); len(attrs) > 0 {
			lines = append(lines, indent+strings.Join(attrs, "  "))
		}
		if r.missingParent != "" {
			lines = append(lines, indent+"(parent span "+r.missingParent+" is not in this trace)")
		}
		for i, l := range r.links {
			if o.maxLinks > 0 && i == o.maxLinks {
				lines = append(lines, fmt.Sprintf("%s%s%d more", indent, g.link, len(r.links)-i))
				break
			}
			where := l.TraceID + "/" + l.SpanID
			if l.TraceID == tr.TraceID {
				where += " (this trace)"
			}
			lines = append(lines, indent+g.link+where)
		}
	}
	for _, w := range tr.Warnings {
		lines = append(lines, "jaeger warning: "+w)
	}
	return lines
}

// opLabel is the operation as the tree shows it: indented by depth, marked
// when the span failed.
func opLabel(r row, g glyphs) string {
	op := r.span.OperationName
	if _, failed := spanError(r.span); failed {
		op = g.err + op
	}
	return strings.Repeat("  ", r.depth) + op
}

// bar places a span on a width-column time scale of total µs: full cells
// where it runs, a thin mark for a span shorter than half a cell.
func bar(start, dur, total int64, width int, g glyphs) string {
	if total <= 0 {
		return g.full
	}
	scale := float64(width) / float64(total)
	from := int(math.Floor(float64(start) * scale))
	to := int(math.Round(float64(start+dur) * scale))
	from = min(max(from, 0), width-1)
	mark := g.full
	if float64(dur)*scale < 0.5 {
		mark, to = g.thin, from+1
	}
	to = min(max(to, from+1), width)
	return strings.Repeat(" ", from) + strings.Repeat(mark, to-from) + strings.Repeat(" ", width-to)
}

// fmtMicros writes a duration of µs with three significant decimals in a
// unit a reader compares at a glance.
func fmtMicros(us int64, g glyphs) string {
	switch d := float64(us); {
	case us < 1000:
		return strconv.FormatInt(us, 10) + g.micro
	case us < 1_000_000:
		return strconv.FormatFloat(d/1e3, 'f', 3, 64) + "ms"
	default:
		return strconv.FormatFloat(d/1e6, 'f', 3, 64) + "s"
	}
}

// attrLabels are the attributes worth a glance, in the order shown, with the
// short label each is shown under. Several keys share a label where the
// semantic conventions renamed them (or producer and consumer differ).
var attrLabels = []struct{ key, label string }{
	{"http.response.status_code", "status"},
	{"http.status_code", "status"},
	{"http.route", "route"},
	{"messaging.destination.name", "topic"},
	{"messaging.source.name", "topic"},
	{"messaging.kafka.destination.partition", "partition"},
	{"messaging.kafka.source.partition", "partition"},
	{"messaging.destination.partition.id", "partition"},
	{"messaging.kafka.message.offset", "offset"},
	{"messaging.kafka.offset", "offset"},
	{"messaging.kafka.consumer.group", "group"},
	{"messaging.consumer.group.name", "group"},
	{"db.operation.name", "op"},
	{"db.operation", "op"},
	{"db.collection.name", "table"},
	{"db.sql.table", "table"},
	{"db.operation.batch.size", "batch"},
	{"pgx.rows_affected", "rows"},
	{"pgx.sql_state", "sqlstate"},
	{"db.query.text", "query"},
	{"db.statement", "query"},
	{"blitzbuy.sale_id", "sale"},
	{"blitzbuy.quantity", "qty"},
	{"blitzbuy.idempotent_replayed", "replayed"},
}

const maxQueryWidth = 60

// keyAttributes picks a span's key attributes: the HTTP status and route,
// the Kafka topic, partition, offset and group, the Redis command or SQL
// operation, table, rows and statement, and the order's sale. A value the
// operation name already shows is not repeated; db.system names the store.
func keyAttributes(sp *jaegerSpan, g glyphs) []string {
	tags := make(map[string]string, len(sp.Tags))
	for _, t := range sp.Tags {
		tags[t.Key] = fmt.Sprint(t.Value)
	}
	var out []string
	if sys := firstOf(tags, "db.system.name", "db.system"); sys != "" {
		out = append(out, sys)
	}
	shown := map[string]bool{}
	for _, a := range attrLabels {
		v, ok := tags[a.key]
		if !ok || shown[a.label] {
			continue
		}
		if v == sp.OperationName || a.label == "route" && strings.HasSuffix(sp.OperationName, " "+v) {
			continue // the operation column says it already
		}
		shown[a.label] = true
		if a.label == "query" {
			v = strconv.Quote(truncate(strings.Join(strings.Fields(v), " "), maxQueryWidth, g.ellipsis))
		}
		out = append(out, a.label+"="+v)
	}
	return out
}

// spanError reports whether a span failed (status ERROR, or Jaeger's error
// tag) and its message: the status description, else an exception event's.
func spanError(sp *jaegerSpan) (string, bool) {
	failed, msg := false, ""
	for _, t := range sp.Tags {
		v := fmt.Sprint(t.Value)
		switch t.Key {
		case "error":
			failed = failed || v == "true"
		case "otel.status_code":
			failed = failed || v == "ERROR"
		case "otel.status_description":
			msg = v
		}
	}
	if !failed {
		return "", false
	}
	for _, l := range sp.Logs {
		for _, f := range l.Fields {
			if msg == "" && f.Key == "exception.message" {
				msg = fmt.Sprint(f.Value)
			}
		}
	}
	return msg, true
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func firstOf(tags map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := tags[k]; v != "" {
			return v
		}
	}
	return ""
}

func orEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// truncate shortens s to n runes, the last one an ellipsis.
func truncate(s string, n int, ellipsis string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + ellipsis
}
