package stacktest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Tail remembers a topic's end offsets so a test can later read exactly the
// records produced after it started (other tests share the topic).
type Tail struct {
	env   Env
	topic string
	start kadm.ListedOffsets
}

// NewTail records topic's current end offsets.
func NewTail(tb testing.TB, env Env, topic string) *Tail {
	tb.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	off, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		tb.Fatalf("list end offsets of %s: %v", topic, err)
	}
	return &Tail{env: env, topic: topic, start: off}
}

// Read consumes the records produced since NewTail, passing each to each,
// until done reports true (checked after every poll, at least every 250 ms)
// or timeout passes. It reports whether done was reached.
func (t *Tail) Read(tb testing.TB, timeout time.Duration, each func(*kgo.Record), done func() bool) bool {
	tb.Helper()
	offsets := map[string]map[int32]kgo.Offset{t.topic: {}}
	t.start.Each(func(o kadm.ListedOffset) { offsets[t.topic][o.Partition] = kgo.NewOffset().At(o.Offset) })
	cl, err := kgo.NewClient(kgo.SeedBrokers(t.env.KafkaBrokers...), kgo.ConsumePartitions(offsets))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		cl.PollFetches(ctx).EachRecord(each)
		cancel()
		if done() {
			return true
		}
	}
	return false
}
