package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

type jaegerTrace struct {
	Data []struct {
		Spans []struct {
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			ProcessID     string `json:"processID"`
			References    []struct {
				RefType string `json:"refType"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
			Tags []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
}

type span struct {
	id, op, service string
	parent          string          // CHILD_OF
	links           map[string]bool // FOLLOWS_FROM
	tags            map[string]string
}

// One order reads in Jaeger as: POST /v1/sales/{saleID}/orders → reserve →
// Redis EVALSHA, → orders publish → (order-writer) orders receive → orders
// process → orders batch insert → Postgres query.
func TestOrderTraceAcrossServices(t *testing.T) {
	s := startSystem(t)
	sale := s.newSale(t, 5)
	resp, body := s.order(t, sale, "traced-buyer")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("order: %d %s", resp.StatusCode, body)
	}
	tr := strings.Split(resp.Header.Get("traceresponse"), "-")
	if len(tr) != 4 {
		t.Fatalf("traceresponse %q", resp.Header.Get("traceresponse"))
	}
	traceID := tr[1]

	var spans map[string]*span
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		spans, missing = fetchTrace(t, s.env.JaegerURL, s.topic, traceID)
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("trace %s lacks %v after 60 s; it has:\n%s", traceID, missing, dump(spans))
	}
	find := func(pred func(*span) bool) *span {
		for _, sp := range spans {
			if pred(sp) {
				return sp
			}
		}
		return nil
	}
	byOp := func(service, op string) *span {
		return find(func(sp *span) bool { return sp.service == service && sp.op == op })
	}
	server := byOp("order-api", "POST /v1/sales/{saleID}/orders")
	reserve := byOp("order-api", "reserve")
	redis := find(func(sp *span) bool {
		return sp.service == "order-api" && sp.tags["db.system.name"] == "redis" && sp.parent == reserve.id
	})
	publish := byOp("order-api", s.topic+" publish")
	receive := byOp("order-writer", s.topic+" receive")
	process := byOp("order-writer", s.topic+" process")
	insert := byOp("order-writer", "orders batch insert")
	pg := find(func(sp *span) bool {
		return sp.service == "order-writer" && strings.Contains(sp.tags["db.system"]+sp.tags["db.system.name"], "postgres") && sp.parent == insert.id
	})

	checks := []struct {
		name string
		ok   bool
	}{
		{"reserve is a child of the server span", reserve.parent == server.id},
		{"a Redis EVALSHA span is a child of reserve", redis != nil},
		{"orders publish is a child of the server span", publish.parent == server.id},
		{"orders receive (order-writer) continues orders publish", receive.parent == publish.id},
		{"orders process is a child of orders receive", process.parent == receive.id},
		{"the batch insert is a child of orders process", insert.parent == process.id},
		{"a Postgres span is a child of the batch insert", pg != nil},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: no\n%s", c.name, dump(spans))
		}
	}
}

// fetchTrace reads a trace from Jaeger's query API and reports which of the
// expected operations are not in it yet.
// Kafka spans are named after the topic (this system's own).
func fetchTrace(t *testing.T, jaeger, topic, traceID string) (map[string]*span, []string) {
	var jt jaegerTrace
	want := []string{"order-api/POST /v1/sales/{saleID}/orders", "order-api/reserve", "order-api/" + topic + " publish",
		"order-writer/" + topic + " receive", "order-writer/" + topic + " process", "order-writer/orders batch insert"}
	if err := getJSON(t, strings.TrimRight(jaeger, "/")+"/api/traces/"+traceID, &jt); err != nil || len(jt.Data) == 0 {
		return nil, want
	}
	spans := map[string]*span{}
	have := map[string]bool{}
	for _, sp := range jt.Data[0].Spans {
		x := &span{id: sp.SpanID, op: sp.OperationName, service: jt.Data[0].Processes[sp.ProcessID].ServiceName,
			links: map[string]bool{}, tags: map[string]string{}}
		for _, r := range sp.References {
			if r.RefType == "CHILD_OF" {
				x.parent = r.SpanID
			} else {
				x.links[r.SpanID] = true
			}
		}
		for _, tg := range sp.Tags {
			x.tags[tg.Key] = fmt.Sprint(tg.Value)
		}
		spans[x.id] = x
		have[x.service+"/"+x.op] = true
	}
	var missing []string
	for _, w := range want {
		if !have[w] {
			missing = append(missing, w)
		}
	}
	return spans, missing
}

func dump(spans map[string]*span) string {
	var b strings.Builder
	for _, sp := range spans {
		fmt.Fprintf(&b, "  %s %-14s %-40q parent=%s links=%v\n", sp.id, sp.service, sp.op, sp.parent, sp.links)
	}
	return b.String()
}
