package reservation

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"

	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// nodeKey holds the run id of the Redis process the ledger's data was last
// vouched for on. It is written on the primary and replicated with
// everything else, so a replica promoted by a failover, or a process
// restarted from an AOF or RDB file that may lag, holds a marker naming
// another process: that is how a stale copy of the ledger is told from the
// ledger itself.
const nodeKey = "blitzbuy:ledger:node"

// NodeWatch tells whether the Redis node the ledger talks to still holds the
// data the ledger vouched for. Install its Dial into the client's option,
// then the store's WithNodeWatch: every new connection (a reconnect, a
// failover to another node) makes the next guarded call check the node's
// run id against the marker before it trusts a reply.
//
// Redis replicates asynchronously, so a failover may lose the last writes
// the old primary acknowledged: reservations whose orders may already be in
// Kafka. A new node whose marker disagrees with its run id is therefore
// fenced: every sale PostgreSQL defines is frozen, so its orders and reads
// answer ledger_rebuilding until the sale is rebuilt from PostgreSQL plus
// what is still in flight (the lost-sale path, package rebuild).
type NodeWatch struct {
	dials    atomic.Uint64 // connections dialled so far
	verified atomic.Uint64 // dials when the node was last found trusted
	fences   atomic.Uint64 // nodes fenced so far
	sem      chan struct{} // one verification at a time
	onFence  func(oldRunID, newRunID string, frozen []string)
}

// NewNodeWatch returns a NodeWatch; onFence, if not nil, hears each time this
// instance fenced a node (for the log).
func NewNodeWatch(onFence func(oldRunID, newRunID string, frozen []string)) *NodeWatch {
	return &NodeWatch{sem: make(chan struct{}, 1), onFence: onFence}
}

// Dial wraps next (nil: rueidis's default dialling) so that every connection
// is counted before it can carry a command.
func (w *NodeWatch) Dial(next func(context.Context, string, *net.Dialer, *tls.Config) (net.Conn, error)) func(context.Context, string, *net.Dialer, *tls.Config) (net.Conn, error) {
	return func(ctx context.Context, addr string, d *net.Dialer, cfg *tls.Config) (net.Conn, error) {
		w.dials.Add(1)
		if next != nil {
			return next(ctx, addr, d, cfg)
		}
		if cfg != nil {
			return (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", addr)
		}
		return d.DialContext(ctx, "tcp", addr)
	}
}

// WithNodeWatch makes the store check the node before orders, reads and
// sale updates, and distrust a reply that may have come over a connection
// dialled after the check. Call it before the store is used, after
// WithDefinitions (fencing freezes only the sales PostgreSQL defines).
func (s *Store) WithNodeWatch(w *NodeWatch) *Store {
	s.node = w
	return s
}

// nodeGen is when a guarded call began: the connections dialled and the
// nodes fenced by then, the node trusted.
type nodeGen struct{ dials, fences uint64 }

// nodeCheck makes sure the node is trusted and returns the generation a
// guarded call runs in. Pass it to nodeMoved after the call.
func (s *Store) nodeCheck(ctx context.Context) (nodeGen, error) {
	if s.node == nil {
		return nodeGen{}, nil
	}
	f := s.node.fences.Load()
	if g := s.node.dials.Load(); g == s.node.verified.Load() {
		return nodeGen{g, f}, nil
	}
	g, err := s.verifyNode(ctx)
	return nodeGen{g, s.node.fences.Load()}, err
}

// nodeMoved reports whether the reply a guarded call just read may come
// from a node nobody checked. A connection dialled since gen (rueidis also
// dials more connections to the same node as load grows) is checked now: the
// reply is trusted when the node is and no node was fenced meanwhile.
func (s *Store) nodeMoved(ctx context.Context, gen nodeGen) bool {
	if s.node == nil || s.node.dials.Load() == gen.dials {
		return false
	}
	_, err := s.verifyNode(ctx)
	return err != nil || s.node.fences.Load() != gen.fences
}

// errNodeUnsettled: the connections kept changing while the node was checked.
var errNodeUnsettled = errors.New("the Redis connection kept changing while its node was checked")

func (s *Store) verifyNode(ctx context.Context) (uint64, error) {
	w := s.node
	select {
	case w.sem <- struct{}{}:
		defer func() { <-w.sem }()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	var lastErr error
	for range 4 {
		g := w.dials.Load()
		if g == w.verified.Load() {
			return g, nil // another call verified it meanwhile
		}
		res := s.client.DoMulti(ctx,
			s.client.B().Info().Section("server").Build(),
			s.client.B().Get().Key(nodeKey).Build())
		info, err := res[0].ToString()
		if err != nil {
			// A connection that broke with the others answers one command
			// with the error, then the client dials it again: ask again.
			lastErr = fmt.Errorf("node check: %w", err)
			continue
		}
		runID := infoField(info, "run_id")
		if runID == "" {
			return 0, fmt.Errorf("node check: INFO server has no run_id")
		}
		marker, err := res[1].ToString()
		if err != nil && !rueidis.IsRedisNil(err) {
			return 0, fmt.Errorf("node check: %w", err)
		}
		if w.dials.Load() != g {
			continue // the answers may come from two nodes: ask again
		}
		switch marker {
		case runID:
			w.verified.Store(g)
			return g, nil
		case "":
			// No marker: an empty Redis (whose sales, if PostgreSQL defines
			// them, are rebuilt as lost sales) or a ledger from before the
			// marker existed. Claim it and check again.
			if err := s.client.Do(ctx, s.client.B().Set().Key(nodeKey).Value(runID).Nx().Build()).Error(); err != nil && !rueidis.IsRedisNil(err) {
				return 0, fmt.Errorf("node check: %w", err)
			}
		default:
			w.fences.Add(1) // before the freeze: a call that began before it distrusts its reply
			frozen, err := s.fence(ctx)
			if err != nil {
				return 0, err
			}
			// Only once every sale is frozen does the node become trusted:
			// another instance that checks now finds the marker agreeing
			// and the sales frozen.
			if err := s.client.Do(ctx, s.client.B().Set().Key(nodeKey).Value(runID).Build()).Error(); err != nil {
				return 0, fmt.Errorf("node check: %w", err)
			}
			if w.onFence != nil {
				w.onFence(marker, runID, frozen)
			}
		}
	}
	if lastErr != nil {
		return 0, lastErr
	}
	return 0, errNodeUnsettled
}

// fence freezes every sale the durable ledger defines. Sales it does not
// define cannot be rebuilt, so they are left as the node holds them.
func (s *Store) fence(ctx context.Context) ([]string, error) {
	if s.defined == nil {
		return nil, nil
	}
	ids, err := s.SaleIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("fence: %w", err)
	}
	var frozen []string
	for _, id := range ids {
		defined, err := s.defined.lookup(ctx, id)
		if err != nil {
			return frozen, fmt.Errorf("fence: is sale %s defined: %w", id, err)
		}
		if !defined {
			continue
		}
		if err := s.Freeze(ctx, id); err != nil {
			return frozen, fmt.Errorf("fence: %w", err)
		}
		s.forgetSoldOut(id)
		frozen = append(frozen, id)
	}
	return frozen, nil
}

// infoField reads one "name:value" line of an INFO reply.
func infoField(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// distrust undoes a reservation whose reply came over a connection dialled
// after the node check: it may have been taken from a stale copy of the
// ledger, so its units go back and its client hears ledger_rebuilding (a 503
// to retry with the same key).
func (s *Store) distrust(ctx context.Context, res order.Reservation) error {
	if res.Err == nil && !res.Replayed {
		err := s.Release(ctx, res.Order, order.ReleasePublishFailed)
		if err != nil && !errors.Is(err, order.ErrNotFound) && !errors.Is(err, order.ErrNotOwned) {
			s.undoLater(res.Order) // Redis went away again: undo it once it answers
		}
	}
	return order.ErrLedgerRebuilding
}
