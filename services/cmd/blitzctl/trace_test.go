package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
)

// testdata/order-trace.json is a real order's trace, fetched from the local
// Jaeger by TestTraceCommandOnARealOrder (BLITZCTL_TRACE_DUMP=path) and
// trimmed of tags the waterfall never shows (otel.scope.*, server.port,
// user.name, db.namespace). Its batch held four orders, so the batch insert
// links three other traces; the client sent an untrusted traceparent, so the
// server span links it.
func loadFixture(t *testing.T) jaegerTrace {
	t.Helper()
	b, err := os.ReadFile("testdata/order-trace.json")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Data []jaegerTrace `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil || len(body.Data) != 1 {
		t.Fatalf("fixture: %v (%d traces)", err, len(body.Data))
	}
	return body.Data[0]
}

// without returns tr minus the span named op (the first one).
func without(tr jaegerTrace, op string) jaegerTrace {
	i := slices.IndexFunc(tr.Spans, func(s jaegerSpan) bool { return s.OperationName == op })
	tr.Spans = slices.Delete(slices.Clone(tr.Spans), i, i+1)
	return tr
}

// failing returns tr with the span named op failed as the SDK exports it.
func failing(tr jaegerTrace, op, msg string) jaegerTrace {
	tr.Spans = slices.Clone(tr.Spans)
	i := slices.IndexFunc(tr.Spans, func(s jaegerSpan) bool { return s.OperationName == op })
	tr.Spans[i].Tags = append(slices.Clone(tr.Spans[i].Tags), jaegerKV{"error", true},
		jaegerKV{"otel.status_code", "ERROR"}, jaegerKV{"otel.status_description", msg})
	return tr
}

// spanLines are the lines of spans (not their detail lines), as
// "service <indent>operation", cut at the header's OPERATION column.
func spanLines(lines []string) []string {
	col := strings.Index(lines[1], "OPERATION")
	var out []string
	for _, l := range lines[2:] {
		if strings.HasPrefix(l, " ") || len(l) <= col {
			continue // a detail line
		}
		rest := l[col:]
		op := strings.TrimLeft(rest, " ")
		indent := len(rest) - len(op)
		op, _, _ = strings.Cut(op, "  ")
		out = append(out, strings.TrimSpace(l[:col])+" "+strings.Repeat(" ", indent)+op)
	}
	return out
}

func TestRenderWaterfall(t *testing.T) {
	fixture := loadFixture(t)
	const topic = "orders-trace-07840dd9"
	tests := []struct {
		name string
		tr   jaegerTrace
		opts renderOptions
		// spans: the span lines in order ("service <indent>operation");
		// nil skips the check.
		spans []string
		// after: each key line must be followed at once by its lines.
		after map[string][]string
		// absent: substrings no line may hold.
		absent []string
	}{
		{
			name: "tree order and indentation: HTTP, Redis, produce, consume, PostgreSQL",
			tr:   fixture, opts: renderOptions{width: 40},
			spans: []string{
				"order-api POST /v1/sales/{saleID}/orders",
				"order-api   reserve",
				"order-api     EVALSHA",
				"order-api   " + topic + " publish",
				"order-writer     " + topic + " receive",
				"order-writer       " + topic + " process",
				"order-writer         orders batch insert",
				"order-writer           pool.acquire",
				"order-writer             connect",
				"order-writer           BEGIN",
				"order-writer           WITH",
				"order-writer             WITH",
				"order-writer           COMMIT",
				"order-api   EVALSHA", // the ack, after the publish: children by start time
			},
			after: map[string][]string{
				"order-api     POST /v1/sales/{saleID}/orders              0µs     8.779ms  ██████": {
					"                status=202",
					"                ↪ link to a7f5bb8cbde36f3cb14e6faad0c27a1d/9f31c5fa45b4bac0",
				},
				"order-api       reserve                                  76µs     1.087ms  █": {
					"                  sale=trace-ad77eff3  qty=1",
				},
				"order-api         EVALSHA                                91µs     1.061ms  █": {
					"                    redis",
				},
				"order-api       " + topic + " publish         1.240ms     7.212ms  ██████": {
					"                  topic=" + topic + "  partition=0  offset=0",
				},
				"order-writer      " + topic + " receive      27.981ms        66µs                     ▏": {
					"                    topic=" + topic + "  partition=0  offset=0  group=blitzctl-trace-" + topic,
				},
				"order-writer          orders batch insert            49.831ms     7.741ms                                    ██████": {
					"                        postgresql  table=orders  batch=4",
					"                        ↪ link to 145921048411f217222acfd685b9176b/3c8457dc44c8e825",
					"                        ↪ link to ed8058e9141240d830df953f7310c576/58c729543e36bc00",
					"                        ↪ link to 63b3b4955cc6e5f43bf0e2a146f8ade7/c7383ba789d12054",
				},
				"order-writer            WITH                         54.378ms     2.020ms                                       ██": {
					`                          postgresql  rows=4  query="WITH ins AS ( INSERT INTO orders (order_id, sale_id, user_i…"`,
				},
			},
			// The route is in the operation name already; the link to the
			// parent is the tree, not a link line.
			absent: []string{"route=", "(parent span", "✗", "(this trace)"},
		},
		{
			name: "header: trace id, counts, total, the time scale",
			tr:   fixture, opts: renderOptions{width: 40},
			after: map[string][]string{
				"trace 536b67371c5897a1c355a2ebd40cf7f4: 14 spans, 2 services, 57.579ms": {
					"SERVICE       OPERATION                                 START    DURATION  0                               57.579ms",
				},
			},
		},
		{
			name: "a span whose parent is missing is shown at the root and says so",
			tr:   without(fixture, "POST /v1/sales/{saleID}/orders"), opts: renderOptions{width: 40},
			spans: []string{
				"order-api reserve",
				"order-api   EVALSHA",
				"order-api " + topic + " publish",
				"order-writer   " + topic + " receive",
				"order-writer     " + topic + " process",
				"order-writer       orders batch insert",
				"order-writer         pool.acquire",
				"order-writer           connect",
				"order-writer         BEGIN",
				"order-writer         WITH",
				"order-writer           WITH",
				"order-writer         COMMIT",
				"order-api EVALSHA",
			},
			after: map[string][]string{
				"                sale=trace-ad77eff3  qty=1": {"                (parent span db9ea25f1f73b59f is not in this trace)"},
			},
			absent: []string{"a7f5bb8cbde36f3cb14e6faad0c27a1d"}, // the server span's link went with it
		},
		{
			name: "an error is marked on the span and its message shown",
			tr:   failing(fixture, "EVALSHA", "OOM command not allowed"), opts: renderOptions{width: 40},
			after: map[string][]string{
				"order-api         ✗ EVALSHA                              91µs     1.061ms  █": {
					"                    ✗ error: OOM command not allowed",
					"                    redis",
				},
			},
		},
		{
			name: "links capped: the rest counted",
			tr:   fixture, opts: renderOptions{width: 40, maxLinks: 1},
			after: map[string][]string{
				"                        postgresql  table=orders  batch=4": {
					"                        ↪ link to 145921048411f217222acfd685b9176b/3c8457dc44c8e825",
					"                        ↪ link to 2 more",
					"order-writer            pool.acquire                 49.850ms     4.307ms                                    ████",
				},
			},
		},
		{
			name: "ascii: no character outside ASCII",
			tr:   failing(fixture, "reserve", "boom"), opts: renderOptions{width: 20, ascii: true},
			after: map[string][]string{
				"order-api     POST /v1/sales/{saleID}/orders              0us     8.779ms  ###": {
					"                status=202",
					"                -> link to a7f5bb8cbde36f3cb14e6faad0c27a1d/9f31c5fa45b4bac0",
				},
				"order-api       ! reserve                                76us     1.087ms  |": {
					"                  ! error: boom",
				},
				"order-writer      " + topic + " receive      27.981ms        66us           |": nil,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := renderWaterfall(tc.tr, tc.opts)
			text := strings.Join(got, "\n")
			if tc.spans != nil {
				if spans := spanLines(got); !slices.Equal(spans, tc.spans) {
					t.Errorf("span lines:\ngot  %q\nwant %q\noutput:\n%s", spans, tc.spans, text)
				}
			}
			for key, next := range tc.after {
				i := slices.Index(got, key)
				if i < 0 {
					t.Errorf("no line %q in:\n%s", key, text)
					continue
				}
				if end := min(len(got), i+1+len(next)); !slices.Equal(got[i+1:end], next) {
					t.Errorf("after %q:\ngot  %q\nwant %q", key, got[i+1:end], next)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(text, a) {
					t.Errorf("output holds %q:\n%s", a, text)
				}
			}
			if tc.opts.ascii {
				for _, l := range got {
					for _, r := range l {
						if r > 127 {
							t.Fatalf("non-ASCII %q in %q", r, l)
						}
					}
				}
			}
			for _, l := range got {
				if strings.TrimRight(l, " ") != l {
					t.Errorf("trailing space in %q", l)
				}
			}
		})
	}
}

func TestBar(t *testing.T) {
	tests := []struct {
		name              string
		start, dur, total int64
		width             int
		want              string
	}{
		{"whole trace", 0, 100, 100, 10, "##########"},
		{"first half", 0, 50, 100, 10, "#####     "},
		{"second half", 50, 50, 100, 10, "     #####"},
		{"shorter than half a cell: a thin mark where it starts", 42, 1, 100, 10, "    |     "},
		{"ends at the trace's end, starts in the last cell", 95, 5, 100, 10, "         #"},
		{"a zero-length trace", 0, 0, 0, 10, "#"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := bar(tc.start, tc.dur, tc.total, tc.width, asciiGlyphs); got != tc.want {
				t.Errorf("bar(%d, %d, %d, %d) = %q, want %q", tc.start, tc.dur, tc.total, tc.width, got, tc.want)
			}
		})
	}
}

func TestParseTraceID(t *testing.T) {
	const id = "536b67371c5897a1c355a2ebd40cf7f4"
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"trace id", id, id, true},
		{"upper case and spaces", "  " + strings.ToUpper(id) + "\n", id, true},
		{"traceparent", "00-" + id + "-db9ea25f1f73b59f-01", id, true},
		{"unsampled traceresponse", "00-" + id + "-db9ea25f1f73b59f-00", id, true},
		{"span id only", "db9ea25f1f73b59f", "", false},
		{"too long", id + "0", "", false},
		{"not hex", strings.Replace(id, "5", "g", 1), "", false},
		{"traceparent with a short span", "00-" + id + "-db9e-01", "", false},
		{"empty", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTraceID(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("parseTraceID(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestFetchJaegerTraceErrors(t *testing.T) {
	const id = "536b67371c5897a1c355a2ebd40cf7f4"
	tests := []struct {
		name     string
		status   int
		body     string
		notFound bool   // errors.Is(err, errTraceNotFound)
		msg      string // in the error
	}{
		{"404", http.StatusNotFound, `{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`, true, "in memory only"},
		{"200 without data", http.StatusOK, `{"data":[]}`, true, "since it last started"},
		{"500", http.StatusInternalServerError, `{"errors":[{"msg":"storage"}]}`, false, "500"},
		{"not JSON", http.StatusOK, `<html>`, false, "invalid character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/traces/"+id {
					t.Errorf("path %q", r.URL.Path)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			_, err := fetchJaegerTrace(context.Background(), srv.Client(), srv.URL, id)
			if err == nil || errors.Is(err, errTraceNotFound) != tc.notFound || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want not-found %v and %q in it", err, tc.notFound, tc.msg)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close() // nothing listens there any more
		_, err := fetchJaegerTrace(context.Background(), http.DefaultClient, srv.URL, id)
		if err == nil || errors.Is(err, errTraceNotFound) || !strings.Contains(err.Error(), "jaeger unreachable") {
			t.Errorf("err = %v, want jaeger unreachable", err)
		}
	})
}

func TestTraceCommandFlags(t *testing.T) {
	fixture, err := os.ReadFile("testdata/order-trace.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(fixture) }))
	defer srv.Close()
	t.Setenv("BLITZBUY_JAEGER_URL", "http://127.0.0.1:1") // the flag wins over it
	t.Setenv("LC_ALL", "C")                               // not UTF-8: ASCII without --ascii
	var out bytes.Buffer
	// Flags after the id, a traceresponse as the id.
	if err := traceCmd([]string{"00-536b67371c5897a1c355a2ebd40cf7f4-db9ea25f1f73b59f-01", "--jaeger", srv.URL + "/", "--width", "20"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "-> link to a7f5bb8cbde36f3cb14e6faad0c27a1d/9f31c5fa45b4bac0") {
		t.Errorf("no ASCII link line in:\n%s", out.String())
	}
	for _, args := range [][]string{{}, {"a", "b"}, {"--width", "5", "536b67371c5897a1c355a2ebd40cf7f4"}} {
		if err := traceCmd(args, &out); err == nil {
			t.Errorf("trace %q: no error", args)
		}
	}
}
