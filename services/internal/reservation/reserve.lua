-- reserve.lua — one order's reservation, atomically, in one round trip.
--
-- All keys belong to one sale and share its hash tag {sale:<id>}, so the
-- script runs unchanged on Redis Cluster.
--
-- KEYS[1]  {sale:<id>}                 hash: name stock remaining limit starts_ms ends_ms
-- KEYS[2]  {sale:<id>}:users           hash: user id -> quantity held by live reservations
-- KEYS[3]  {sale:<id>}:idem:<digest>   hash: the idempotency record of (user, Idempotency-Key)
-- KEYS[4]  {sale:<id>}:pending         sorted set: the outbox, order id scored by reserved-at (ms)
-- KEYS[5]  {sale:<id>}:order:<new id>  hash: the reservation, written only when accepted
-- KEYS[6]  {sale:<id>}:rl:<user id>     sorted set: the user's order requests in this sale's
--                                      rate-limit window (ms), TTL = window
-- KEYS[7]  {sale:<id>}:holds           sorted set: live checkout holds, order id scored by
--                                      expires_ms (only for a sale with hold_ms > 0)
-- ARGV[1]  user id
-- ARGV[2]  quantity (integer >= 1)
-- ARGV[3]  request fingerprint (same key + different body = different fingerprint)
-- ARGV[4]  the new order id (used only when accepted)
-- ARGV[5]  idempotency record TTL in seconds
-- ARGV[6]  the Idempotency-Key itself (kept on the reservation for re-publishing)
-- ARGV[7]  rate limit: order requests allowed per window per (sale, user); 0 = no limit
-- ARGV[8]  the rate-limit window in milliseconds
-- ARGV[9]  the request's W3C traceparent when its span is sampled, else '':
--          kept on a held order, so its payment's span can link to it
--
-- Order of checks (DESIGN.md): unknown sale -> rate limit -> idempotent
-- replay -> sale window -> per-user limit -> stock -> decrement. The rate
-- limit is a sliding window per (sale, user) kept under the sale's hash tag,
-- so the whole decision is one round trip, also on Redis Cluster. A
-- rate-limited request touches nothing but its window. The rejections
-- limit and not_active are recorded under the Idempotency-Key, so the key
-- keeps its answer (I3); sold_out is not (docs/api.md): it reserved nothing,
-- a retry with the same key is a fresh attempt, and a crowd's sold-out
-- answers leave no records behind.
--
-- Returns an array of strings:
--   {"not_found"}                                no such sale (nothing counted)
--   {kind, outcome, order_id, qty, reserved_ms, rl_remaining, rl_reset_ms, expires_ms}
--     kind: new | replay | reused (same key, different request) | limited (rate limited)
--     outcome: accepted | sold_out | limit | not_active (order_id etc. empty unless accepted)
--     rl_remaining, rl_reset_ms: requests left in the window and the time until
--     its oldest request leaves it (when one more is allowed); 0 0 without a limit
--     expires_ms: the end of an accepted order's checkout window, '' without one
--
-- A sale with a checkout window (hold_ms > 0, issue #14) holds an accepted
-- order's units until expires_ms: the order is "held" (hold.lua pays,
-- cancels or expires it), indexed in KEYS[7], and counted in the sale's
-- "held" units.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local sale = redis.call('HMGET', KEYS[1], 'remaining', 'limit', 'starts_ms', 'ends_ms', 'hold_ms')
if not sale[1] then
  return {'not_found'}
end

local rl_limit = tonumber(ARGV[7])
local rl_left, rl_reset = 0, 0
if rl_limit > 0 then
  local window = tonumber(ARGV[8])
  -- Count the window before trimming it: at maxmemory (noeviction) Redis
  -- refuses a script's first write only if that write may grow memory, and
  -- once one write has passed it lets every later one through. ZADD is such
  -- a write, ZREMRANGEBYSCORE is not, so the ZADD must come first: then an
  -- order at the limit is refused before it changes anything
  -- (docs/operations.md, "Redis memory"). ZCOUNT over (now - window, +inf)
  -- counts what the trim below keeps.
  local n = redis.call('ZCOUNT', KEYS[6], '(' .. (now - window), '+inf')
  local allowed = n < rl_limit
  if allowed then
    -- the new order id is unique, so two requests in one millisecond are two members
    redis.call('ZADD', KEYS[6], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[6], window)
    n = n + 1
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - window)
  rl_left, rl_reset = rl_limit - n, window
  local oldest = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
  if oldest[2] then
    rl_reset = tonumber(oldest[2]) + window - now
  end
  if not allowed then
    return {'limited', '', '', '', '', tostring(rl_left), tostring(rl_reset), ''}
  end
end

local rec = redis.call('HMGET', KEYS[3], 'fp', 'outcome', 'order_id', 'qty', 'reserved_ms', 'expires_ms')
if rec[1] then
  if rec[1] ~= ARGV[3] then
    return {'reused', '', '', '', '', tostring(rl_left), tostring(rl_reset), ''}
  end
  return {'replay', rec[2], rec[3] or '', rec[4] or '', rec[5] or '', tostring(rl_left), tostring(rl_reset), rec[6] or ''}
end

local qty = tonumber(ARGV[2])
local ends = tonumber(sale[4])
local outcome = 'accepted'
if now < tonumber(sale[3]) or (ends > 0 and now >= ends) then
  outcome = 'not_active'
elseif tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') + qty > tonumber(sale[2]) then
  outcome = 'limit'
elseif tonumber(sale[1]) < qty then
  outcome = 'sold_out'
end

local ttl = tonumber(ARGV[5])
if outcome ~= 'accepted' then
  if outcome ~= 'sold_out' then
    redis.call('HSET', KEYS[3], 'fp', ARGV[3], 'outcome', outcome, 'qty', ARGV[2])
    redis.call('EXPIRE', KEYS[3], ttl)
  end
  return {'new', outcome, '', ARGV[2], '', tostring(rl_left), tostring(rl_reset), ''}
end

local hold = tonumber(sale[5] or '0')
local expires = ''
redis.call('HINCRBY', KEYS[1], 'remaining', -qty)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
redis.call('HSET', KEYS[3], 'fp', ARGV[3], 'outcome', 'accepted', 'order_id', ARGV[4], 'qty', ARGV[2], 'reserved_ms', now)
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('ZADD', KEYS[4], now, ARGV[4])
-- No TTL while pending: the relay must always find what it has to publish.
redis.call('HSET', KEYS[5], 'user', ARGV[1], 'qty', ARGV[2], 'key', ARGV[6], 'reserved_ms', now, 'status', 'pending')
if hold > 0 then
  expires = tostring(now + hold)
  redis.call('HSET', KEYS[5], 'hold', 'held', 'expires_ms', expires)
  if ARGV[9] ~= '' then
    redis.call('HSET', KEYS[5], 'tp', ARGV[9])
  end
  redis.call('HSET', KEYS[3], 'expires_ms', expires)
  redis.call('ZADD', KEYS[7], now + hold, ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'held', qty)
end
return {'new', 'accepted', ARGV[4], ARGV[2], tostring(now), tostring(rl_left), tostring(rl_reset), expires}
