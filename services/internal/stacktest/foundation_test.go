package stacktest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
)

// These tests prove the local stack is made of real servers doing real round
// trips: the foundation every later integration test stands on.

func TestKafkaProduceConsume(t *testing.T) {
	env := stacktest.Load(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	topic := fmt.Sprintf("stacktest-%d", time.Now().UnixNano())
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })

	want := fmt.Sprintf("hello %d", time.Now().UnixNano())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(want)}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	for {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record consumed before the deadline: %v", err)
		}
		for _, fe := range fetches.Errors() {
			t.Fatalf("fetch %s/%d: %v", fe.Topic, fe.Partition, fe.Err)
		}
		var got []string
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		if len(got) > 0 {
			if got[0] != want {
				t.Fatalf("consumed %q, want %q", got[0], want)
			}
			return
		}
	}
}

func TestKafkaTopicsExist(t *testing.T) {
	env := stacktest.Load(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(ctx, "orders", "orders.dlq")
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	for topic, wantPartitions := range map[string]int{"orders": 12, "orders.dlq": 3} {
		d, ok := details[topic]
		if !ok || d.Err != nil {
			t.Fatalf("topic %s missing (err %v)", topic, d.Err)
		}
		if got := len(d.Partitions); got != wantPartitions {
			t.Errorf("topic %s has %d partitions, want %d", topic, got, wantPartitions)
		}
	}
}

func TestPostgresRoundTrip(t *testing.T) {
	env := stacktest.Load(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, env.PostgresURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())

	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE stacktest (id int PRIMARY KEY, note text) ON COMMIT DROP`); err != nil {
		t.Fatalf("create: %v", err)
	}
	want := fmt.Sprintf("note-%d", time.Now().UnixNano())
	if _, err := tx.Exec(ctx, `INSERT INTO stacktest VALUES ($1, $2)`, 7, want); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var got string
	if err := tx.QueryRow(ctx, `SELECT note FROM stacktest WHERE id = $1`, 7).Scan(&got); err != nil {
		t.Fatalf("select: %v", err)
	}
	if got != want {
		t.Fatalf("read %q, want %q", got, want)
	}
	var user string
	if err := tx.QueryRow(ctx, `SELECT current_user`).Scan(&user); err != nil || user != "blitzbuy" {
		t.Fatalf("current_user = %q (%v), want blitzbuy", user, err)
	}
}

func TestRedisLuaScript(t *testing.T) {
	env := stacktest.Load(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{env.RedisAddr}})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer client.Close()

	// Decrement only while the counter stays non-negative: the shape of the
	// reservation script, run server-side in one round trip.
	script := rueidis.NewLuaScript(`
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
if v < n then return -1 end
return redis.call('DECRBY', KEYS[1], n)`)
	key := fmt.Sprintf("{stacktest:%d}:stock", time.Now().UnixNano())
	t.Cleanup(func() { client.Do(context.Background(), client.B().Del().Key(key).Build()) })
	if err := client.Do(ctx, client.B().Set().Key(key).Value("3").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{1, -1, 1, 0, -1} {
		n := []string{"2", "2", "0", "1", "1"}[i]
		got, err := script.Exec(ctx, client, []string{key}, []string{n}).AsInt64()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got != want {
			t.Errorf("call %d (take %s) = %d, want %d", i, n, got, want)
		}
	}
}
