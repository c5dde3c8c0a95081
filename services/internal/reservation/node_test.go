package reservation_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
)

// nodeDB keeps these tests' node marker away from the services and the
// other tests, which share database 0 of the stack's Redis.
const nodeDB = 7

type nodeFixture struct {
	watched *reservation.Store // through a client whose dials the watch counts
	client  rueidis.Client     // that client
	name    string             // its CLIENT SETNAME
	admin   rueidis.Client     // a second client on the same database
	fences  chan []string
}

func newNodeFixture(t *testing.T, defined map[string]bool) *nodeFixture {
	t.Helper()
	env := stacktest.Load(t)
	f := &nodeFixture{fences: make(chan []string, 8), name: "node-test-" + testkit.RandHex(4)}
	w := reservation.NewNodeWatch(func(_, _ string, frozen []string) { f.fences <- frozen })
	var err error
	f.client, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{env.RedisAddr}, SelectDB: nodeDB, ClientName: f.name,
		DialCtxFn: w.Dial(nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.client.Close)
	f.admin, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{env.RedisAddr}, SelectDB: nodeDB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.admin.Close)
	s, err := reservation.New(f.client, reservation.Config{IdempotencyTTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.watched = s.WithDefinitions(&fakeDefinitions{defined: defined}).WithNodeWatch(w)
	return f
}

func (f *nodeFixture) sale(t *testing.T, id string) {
	t.Helper()
	t.Cleanup(func() { stacktest.DeleteSale(f.admin, id) })
	if _, err := f.watched.UpsertSale(context.Background(), order.SaleSpec{ID: id, Name: "node", Stock: 10, PerUserLimit: 5,
		StartsAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatalf("create sale %s: %v", id, err)
	}
}

// dropConnections kills every connection of the watched client (rueidis
// keeps several), as a failover or a restart does, and waits until the
// client noticed.
func (f *nodeFixture) dropConnections(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	list, err := f.admin.Do(ctx, f.admin.B().ClientList().Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for line := range strings.SplitSeq(list, "\n") {
		if !strings.Contains(line, " name="+f.name+" ") {
			continue
		}
		first, _, _ := strings.Cut(line, " ") // "id=60" (the reply's first line may carry a "txt:" prefix)
		_, id, _ := strings.Cut(first, "id=")
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			t.Fatalf("client list line %q: %v", line, err)
		}
		if err := f.admin.Do(ctx, f.admin.B().ClientKill().Id(n).Build()).Error(); err != nil {
			t.Fatalf("client kill: %v", err)
		}
		killed++
	}
	if killed == 0 {
		t.Fatalf("no connection named %s in CLIENT LIST", f.name)
	}
	time.Sleep(200 * time.Millisecond)
}

func (f *nodeFixture) runID(t *testing.T) string {
	t.Helper()
	info, err := f.admin.Do(context.Background(), f.admin.B().Info().Section("server").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(info, "run_id:")
	return strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0])
}

// reserveAfterDrop retries over the connection error a killed connection
// may still answer once.
func (f *nodeFixture) reserveAfterDrop(t *testing.T, req order.Request) (order.Reservation, error) {
	t.Helper()
	for range 10 {
		res, err := f.watched.Reserve(context.Background(), req)
		if err == nil || errors.Is(err, order.ErrLedgerRebuilding) || errors.Is(err, order.ErrNotFound) {
			return res, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("reserve kept failing after the connections were dropped")
	return order.Reservation{}, nil
}

// A Redis whose marker names another process (a promoted replica, a restart
// from a file that may lag) is fenced: every sale the durable ledger defines
// is frozen and answers ledger_rebuilding; the others are left alone; the
// node is trusted again once it is.
func TestNodeChangeFencesDefinedSales(t *testing.T) {
	defined, undefined := "nd-"+testkit.RandHex(4), "nu-"+testkit.RandHex(4)
	f := newNodeFixture(t, map[string]bool{defined: true})
	ctx := context.Background()
	t.Cleanup(func() { f.admin.Do(ctx, f.admin.B().Del().Key("blitzbuy:ledger:node").Build()) })
	f.sale(t, defined)
	f.sale(t, undefined)
	if r, err := f.watched.Reserve(ctx, order.Request{SaleID: defined, UserID: "u1", IdempotencyKey: "k1", Quantity: 1}); err != nil || r.Err != nil {
		t.Fatalf("before the change: %v %v, want accepted", err, r.Err)
	}
	marker, err := f.admin.Do(ctx, f.admin.B().Get().Key("blitzbuy:ledger:node").Build()).ToString()
	if want := f.runID(t); err != nil || marker != want {
		t.Fatalf("marker after the first check: %q %v, want this node's run id %q", marker, err, want)
	}

	// The failover: the data (and so the marker) came from another process.
	if err := f.admin.Do(ctx, f.admin.B().Set().Key("blitzbuy:ledger:node").Value("0123456789abcdef-old-primary").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	f.dropConnections(t)
	_, err = f.reserveAfterDrop(t, order.Request{SaleID: defined, UserID: "u2", IdempotencyKey: "k2", Quantity: 1})
	if !errors.Is(err, order.ErrLedgerRebuilding) {
		t.Fatalf("an order on the new node: %v, want ledger_rebuilding", err)
	}
	select {
	case frozen := <-f.fences:
		if !slices.Contains(frozen, defined) || slices.Contains(frozen, undefined) {
			t.Errorf("frozen %q, want %s and not %s", frozen, defined, undefined)
		}
	case <-time.After(time.Second):
		t.Fatal("no fence was reported")
	}
	if _, err := f.watched.Sale(ctx, defined, time.Now()); !errors.Is(err, order.ErrLedgerRebuilding) {
		t.Errorf("reading the fenced sale: %v, want ledger_rebuilding", err)
	}
	if r, err := f.watched.Reserve(ctx, order.Request{SaleID: undefined, UserID: "u3", IdempotencyKey: "k3", Quantity: 1}); err != nil || r.Err != nil {
		t.Errorf("a sale the durable ledger does not define: %v %v, want accepted (left as it is)", err, r.Err)
	}
	marker, _ = f.admin.Do(ctx, f.admin.B().Get().Key("blitzbuy:ledger:node").Build()).ToString()
	if marker != f.runID(t) {
		t.Errorf("marker after the fence: %q, want this node's run id", marker)
	}
	select {
	case frozen := <-f.fences:
		t.Errorf("a second fence of a trusted node: %q", frozen)
	default:
	}
}

// A reconnect to the same node is checked and trusted: the order whose
// command dialled the new connection is accepted, nothing is fenced.
func TestReconnectToTheSameNodeIsTrusted(t *testing.T) {
	sale := "ns-" + testkit.RandHex(4)
	f := newNodeFixture(t, map[string]bool{sale: true})
	ctx := context.Background()
	t.Cleanup(func() { f.admin.Do(ctx, f.admin.B().Del().Key("blitzbuy:ledger:node").Build()) })
	f.sale(t, sale)
	f.dropConnections(t)
	if r, err := f.reserveAfterDrop(t, order.Request{SaleID: sale, UserID: "u1", IdempotencyKey: "k1", Quantity: 1}); err != nil || r.Err != nil {
		t.Fatalf("an order after a reconnect to the same node: %v %v, want accepted", err, r.Err)
	}
	select {
	case frozen := <-f.fences:
		t.Errorf("a reconnect to the same node fenced %q", frozen)
	default:
	}
}

// evalHook runs before once, just before the first script call it sees:
// where a real reconnect happens when the order's own command is the one
// that finds its connection gone.
type evalHook struct {
	rueidis.Client
	once   sync.Once
	before func()
}

func (h *evalHook) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if c := cmd.Commands(); len(c) > 0 && (c[0] == "EVALSHA" || c[0] == "EVAL") {
		h.once.Do(h.before)
	}
	return h.Client.Do(ctx, cmd)
}

// A reservation whose reply came over a connection dialled after the check,
// to a node that turns out not to be the vouched-for one, is undone and
// answered ledger_rebuilding, its units back; the retry with the same key
// meets the frozen sale.
func TestReplyFromAnUncheckedNodeIsUndone(t *testing.T) {
	sale := "nr-" + testkit.RandHex(4)
	f := newNodeFixture(t, map[string]bool{sale: true})
	ctx := context.Background()
	t.Cleanup(func() { f.admin.Do(ctx, f.admin.B().Del().Key("blitzbuy:ledger:node").Build()) })
	f.sale(t, sale)
	if r, err := f.watched.Reserve(ctx, order.Request{SaleID: sale, UserID: "u1", IdempotencyKey: "k1", Quantity: 1}); err != nil || r.Err != nil {
		t.Fatalf("first order: %v %v", err, r.Err)
	}
	// The order's check finds the node trusted; then its script's command
	// "dials" (counted) and reaches a node whose data came from another
	// process.
	w := reservation.NewNodeWatch(func(_, _ string, frozen []string) { f.fences <- frozen })
	hook := &evalHook{Client: f.client, before: func() {
		reservation.CountDial(w)
		if err := f.admin.Do(ctx, f.admin.B().Set().Key("blitzbuy:ledger:node").Value("another-process").Build()).Error(); err != nil {
			t.Error(err)
		}
	}}
	s, err := reservation.New(hook, reservation.Config{IdempotencyTTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.WithDefinitions(&fakeDefinitions{defined: map[string]bool{sale: true}}).WithNodeWatch(w)
	if _, err := s.Sale(ctx, sale, time.Now()); err != nil { // the first check: trusted
		t.Fatal(err)
	}
	_, err = s.Reserve(ctx, order.Request{SaleID: sale, UserID: "u2", IdempotencyKey: "k2", Quantity: 2})
	if !errors.Is(err, order.ErrLedgerRebuilding) {
		t.Fatalf("the order served by an unchecked node: %v, want ledger_rebuilding", err)
	}
	select {
	case <-f.fences:
	case <-time.After(time.Second):
		t.Fatal("the unchecked node was not fenced")
	}
	units, err := f.admin.Do(ctx, f.admin.B().Hget().Key("{sale:"+sale+"}:users").Field("u2").Build()).AsInt64()
	if err != nil && !rueidis.IsRedisNil(err) {
		t.Fatal(err)
	}
	if units != 0 {
		t.Errorf("u2 still holds %d units after the undo, want 0", units)
	}
	if n, err := f.admin.Do(ctx, f.admin.B().Exists().Key("{sale:"+sale+"}").Build()).AsInt64(); err != nil || n != 0 {
		t.Errorf("the frozen sale's hash: exists %d (%v), want gone (an undo must not bring back a partial hash)", n, err)
	}
	if _, err := s.Reserve(ctx, order.Request{SaleID: sale, UserID: "u2", IdempotencyKey: "k2", Quantity: 2}); !errors.Is(err, order.ErrLedgerRebuilding) {
		t.Errorf("the retry: %v, want ledger_rebuilding (the sale is frozen until it is rebuilt)", err)
	}
}

// Concurrent calls share one check.
func TestNodeCheckUnderConcurrency(t *testing.T) {
	sale := "nc-" + testkit.RandHex(4)
	f := newNodeFixture(t, map[string]bool{sale: true})
	ctx := context.Background()
	t.Cleanup(func() { f.admin.Do(ctx, f.admin.B().Del().Key("blitzbuy:ledger:node").Build()) })
	f.sale(t, sale)
	f.dropConnections(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, rebuilding := 0, 0
	for i := range 50 {
		wg.Go(func() {
			r, err := f.watched.Reserve(ctx, order.Request{SaleID: sale, UserID: "u", IdempotencyKey: "c" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Quantity: 1})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && r.Err == nil:
				accepted++
			case err == nil && errors.Is(r.Err, order.ErrPurchaseLimit), err == nil && errors.Is(r.Err, order.ErrSoldOut):
			case errors.Is(err, order.ErrLedgerRebuilding):
				rebuilding++
			}
		})
	}
	wg.Wait()
	s, err := f.watched.Sale(ctx, sale, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if held := 10 - s.Remaining; held != int64(accepted) {
		t.Errorf("%d accepted, %d units held, %d undone: every unit held must belong to an accepted order", accepted, held, rebuilding)
	}
}
