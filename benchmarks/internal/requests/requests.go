// Package requests prepares blitzbench's order requests before the clock
// starts: a signed user JWT, an Idempotency-Key and a JSON body each, laid
// out as honest buyers or as a scenario's seeded mix of retries, greedy
// users and bursts. Preparing everything up front keeps signing and JSON
// off the measured path.
package requests

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

// Signer mints a user JWT the way the identity provider would (HS256, sub,
// iat, exp); tokens are made before the clock starts.
type Signer func(user string) ([]byte, error)

// NewSigner signs with secret; every token is valid for ttl from now.
func NewSigner(secret []byte, ttl time.Duration) Signer {
	now := time.Now()
	return func(user string) ([]byte, error) {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
			Subject: user, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		}).SignedString(secret)
		if err != nil {
			return nil, err
		}
		return []byte("Bearer " + tok), nil
	}
}

// Honest is n distinct buyers, one order of qty each, each with its own key.
func Honest(sign Signer, prefix string, n, qty int) ([]load.Request, error) {
	reqs := make([]load.Request, n)
	body := fmt.Appendf(nil, `{"quantity":%d}`, qty)
	for i := range reqs {
		user := fmt.Sprintf("%s-u%d", prefix, i)
		auth, err := sign(user)
		if err != nil {
			return nil, err
		}
		reqs[i] = load.Request{User: user, Key: fmt.Sprintf("%s-k%d", prefix, i), Qty: qty, Auth: auth, Body: body}
	}
	return reqs, nil
}

// BurstSize is how many orders a rate-burst user sends (the API allows 5 per
// minute by default, so at least 7 of them are answered 429).
const BurstSize = 12

// Mixed lays out n requests of a scenario's traffic mix: honest
// buyers (one order each), retries (an earlier request of the same user sent
// again, same key, same body), greedy users ordering limit+1 times with new
// keys, and bursting users sending BurstSize orders in quick succession.
// Every user is an actor with a random start; an actor's requests follow
// each other a little later in the schedule. The layout is seeded, so a run
// is reproducible.
func Mixed(sign Signer, prefix string, n int, t scenarios.Traffic, limit int, seed uint64) ([]load.Request, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type slot struct {
		pos        float64
		actor, key int
	}
	var slots []slot
	actors := 0
	// gap is the spacing of an actor's requests as a share of the run.
	addActor := func(keys []int, gap float64) {
		pos := rng.Float64()
		for j, k := range keys {
			if j > 0 { // each request a little after the previous one
				pos += gap * (0.5 + rng.Float64())
			}
			slots = append(slots, slot{pos: pos, actor: actors, key: k})
		}
		actors++
	}
	retries := int(t.RetrySameKey * float64(n))
	greedy := int(t.OverLimit * float64(n) / float64(limit+1))
	bursts := int(t.RateBurst * float64(n) / BurstSize)
	for range retries {
		addActor([]int{0, 0}, 0.01) // the retry follows ~1 % of the run later
	}
	for range greedy {
		keys := make([]int, limit+1)
		for j := range keys {
			keys[j] = j
		}
		addActor(keys, 0.005)
	}
	for range bursts {
		keys := make([]int, BurstSize)
		for j := range keys {
			keys[j] = j
		}
		addActor(keys, 0.0005)
	}
	for len(slots) < n {
		addActor([]int{0}, 0)
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i].pos < slots[j].pos })
	slots = slots[:n]

	body := fmt.Appendf(nil, `{"quantity":%d}`, t.Quantity)
	auth := map[int][]byte{}
	reqs := make([]load.Request, n)
	for i, s := range slots {
		user := fmt.Sprintf("%s-u%d", prefix, s.actor)
		a, ok := auth[s.actor]
		if !ok {
			var err error
			if a, err = sign(user); err != nil {
				return nil, err
			}
			auth[s.actor] = a
		}
		reqs[i] = load.Request{User: user, Key: fmt.Sprintf("%s-k%d-%d", prefix, s.actor, s.key), Qty: t.Quantity, Auth: a, Body: body}
	}
	return reqs, nil
}
