//go:build faults

package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/blitzbuy/blitzbuy/testkit/localenv"
)

// TestFaultRedisLinkToxics: order-api reaches Redis through toxiproxy (in
// this process), and the link goes bad under load: 200 ms of latency for
// 6 s, then connections reset for 3 s, then a 10 s partition (data held,
// never delivered: what a dropped route looks like, not a refused port).
// Orders answer slowly, then 503 unavailable, then sell on; the verifier
// checks I1-I5 over the whole run, and after the partition the node check
// must find the same Redis again (no fence, no ledger_rebuilding).
func TestFaultRedisLinkToxics(t *testing.T) {
	linkDrill(t, "redis-link", func(stack map[string]string) string { return stack["BLITZBUY_REDIS_ADDR"] },
		func(proxy string) string { return "BLITZBUY_REDIS_ADDR=" + proxy })
}

// TestFaultKafkaLinkToxics: the same faults on order-api's link to Kafka.
// The broker's DRILL listener (infra/kafka/server.properties) advertises
// the proxy's address (its PLAINTEXT port + 10,000), so the producer,
// bootstrapped at the proxy, stays behind it. Publishes slow down, then
// fail after BLITZBUY_PUBLISH_TIMEOUT (503, the reservation released);
// nothing answered 202 is lost and nothing answered 503 is persisted.
func TestFaultKafkaLinkToxics(t *testing.T) {
	linkDrill(t, "kafka-link", func(stack map[string]string) string {
		host, port, _ := net.SplitHostPort(strings.Split(stack["BLITZBUY_KAFKA_BROKERS"], ",")[0])
		n, _ := strconv.Atoi(port)
		return net.JoinHostPort(host, strconv.Itoa(n+10100))
	}, func(proxy string) string { return "BLITZBUY_KAFKA_BROKERS=" + proxy })
}

// linkDrill puts toxiproxy between order-api and the server upstream names
// (the proxy listens where env, given its address, points order-api), runs
// testdata/<name>.yaml and poisons the link on a schedule.
func linkDrill(t *testing.T, name string, upstream func(stack map[string]string) string, point func(proxy string) string) {
	root := localenv.Root(t)
	stack := localenv.Stack(t, root)
	if p := stack["BLITZBUY_PROFILE"]; p != "" && p != "default" {
		t.Fatalf("the stack's profile is %q: this drill proxies the default profile's single servers", p)
	}
	up := upstream(stack)
	listen := "127.0.0.1:0"
	if name == "kafka-link" { // the broker advertises the proxy at a fixed port
		_, port, _ := net.SplitHostPort(up)
		n, _ := strconv.Atoi(port)
		listen = "127.0.0.1:" + strconv.Itoa(n-100)
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	link := toxiproxy.NewProxy(srv, name, listen, up)
	if err := link.Start(); err != nil {
		t.Fatal(err)
	}
	defer link.Stop()
	// Only order-api's link is poisoned.
	bin, env := drillServices(t, root, stack, point(link.Listen))

	ctx := context.Background()
	toxic := func(toxic, typ string, attrs string) error {
		_, err := link.Toxics.AddToxicJson(strings.NewReader(fmt.Sprintf(
			`{"name":%q,"type":%q,"stream":"downstream","toxicity":1,"attributes":%s}`, toxic, typ, attrs)))
		if err == nil {
			t.Logf("%s on the %s at %s", toxic, name, time.Now().Format("15:04:05.000"))
		}
		return err
	}
	heal := func(toxic string) error {
		t.Logf("%s healed at %s", toxic, time.Now().Format("15:04:05.000"))
		return link.Toxics.RemoveToxic(ctx, toxic)
	}
	steps := []struct {
		wait time.Duration
		do   func() error
	}{
		{4 * time.Second, func() error { return toxic("latency", "latency", `{"latency":200,"jitter":20}`) }},
		{6 * time.Second, func() error { return heal("latency") }},
		{2 * time.Second, func() error { return toxic("resets", "reset_peer", `{"timeout":0}`) }},
		{3 * time.Second, func() error { return heal("resets") }},
		{2 * time.Second, func() error { return toxic("partition", "timeout", `{"timeout":0}`) }},
		{10 * time.Second, func() error { return heal("partition") }},
	}
	defer link.Toxics.ResetToxics(ctx)
	sc, _ := benchDrill(t, root, bin, env, name, "90s", func() error {
		for _, s := range steps {
			time.Sleep(s.wait)
			if err := s.do(); err != nil {
				return err
			}
		}
		return nil
	})
	// Bounded: the resets and the partition are 13 s of the 40, and an
	// order caught in them fails within the client's timeout (Redis's 2 s
	// write timeout, Kafka's 5 s publish timeout).
	if u, n := sc.Outcomes["unavailable"], sc.Load.Requests; u == 0 || u > n/2 {
		t.Errorf("%d of %d answers were unavailable, want some and at most half", u, n)
	}
	if n := sc.Outcomes["ledger_rebuilding"]; n != 0 {
		t.Errorf("%d ledger_rebuilding answers: a reconnect to the same Redis was taken for another node", n)
	}
}
