package reservation

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

var (
	//go:embed persist_claim.lua
	persistClaimLua string
	//go:embed confirm.lua
	confirmLua string
)

// maxPerCall bounds one script call: a Lua script blocks Redis while it runs.
const maxPerCall = 500

// bySale groups refs per sale in chunks of at most maxPerCall, remembering
// each ref's position.
func bySale(refs []order.Ref) (groups [][]int) {
	idx := map[string][]int{}
	var order []string
	for i, r := range refs {
		if _, ok := idx[r.SaleID]; !ok {
			order = append(order, r.SaleID)
		}
		idx[r.SaleID] = append(idx[r.SaleID], i)
	}
	for _, sale := range order {
		all := idx[sale]
		for len(all) > 0 {
			n := min(len(all), maxPerCall)
			groups = append(groups, all[:n])
			all = all[n:]
		}
	}
	return groups
}

// ClaimForPersist moves each reservation to "persisting" before the writer
// inserts it — one script call per sale (per 500 orders), all pipelined in
// one round trip — and returns each one's stage after the claim, in the order
// of refs: persisting (claimed), gone (no reservation), or the stage that
// kept it from being claimed (confirmed, released, failed).
func (s *Store) ClaimForPersist(ctx context.Context, refs []order.Ref) ([]order.Stage, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	groups := bySale(refs)
	execs := make([]rueidis.LuaExec, len(groups))
	for g, members := range groups {
		keys := make([]string, len(members))
		for j, i := range members {
			keys[j] = orderKey(refs[i].SaleID, refs[i].OrderID)
		}
		execs[g] = rueidis.LuaExec{Keys: keys}
	}
	out := make([]order.Stage, len(refs))
	for g, res := range s.persistClaim.ExecMulti(ctx, s.client, execs...) {
		v, err := res.AsStrSlice()
		if err != nil {
			return nil, fmt.Errorf("claim for persist: %w", err)
		}
		if len(v) != len(groups[g]) {
			return nil, fmt.Errorf("claim for persist: %d answers for %d orders", len(v), len(groups[g]))
		}
		for j, i := range groups[g] {
			out[i] = order.Stage(v[j])
		}
	}
	return out, nil
}

// Confirm marks reservations as persisted (GET /v1/orders/{id} then reads
// confirmed even before it asks Postgres) and drops them from the outbox.
func (s *Store) Confirm(ctx context.Context, refs []order.Ref) error {
	if len(refs) == 0 {
		return nil
	}
	ttl := strconv.FormatInt(s.ttl, 10)
	groups := bySale(refs)
	execs := make([]rueidis.LuaExec, len(groups))
	for g, members := range groups {
		sale := refs[members[0]].SaleID
		keys := append(make([]string, 0, len(members)+1), saleKeys(sale).pending)
		args := append(make([]string, 0, len(members)+1), ttl)
		for _, i := range members {
			keys = append(keys, orderKey(sale, refs[i].OrderID))
			args = append(args, refs[i].OrderID)
		}
		execs[g] = rueidis.LuaExec{Keys: keys, Args: args}
	}
	var errs []error
	for _, res := range s.confirm.ExecMulti(ctx, s.client, execs...) {
		if err := res.Error(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("confirm: %w", err)
	}
	return nil
}
