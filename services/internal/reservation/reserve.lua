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
-- ARGV[1]  user id
-- ARGV[2]  quantity (integer >= 1)
-- ARGV[3]  request fingerprint (same key + different body = different fingerprint)
-- ARGV[4]  the new order id (used only when accepted)
-- ARGV[5]  idempotency record TTL in seconds
-- ARGV[6]  the Idempotency-Key itself (kept on the reservation for re-publishing)
--
-- Order of checks (DESIGN.md): idempotent replay -> sale window -> per-user
-- limit -> stock -> decrement. Business rejections are recorded under the key
-- too, so a key always yields the same answer (I3).
--
-- Returns an array of strings:
--   {"reused"}                                   same key, different request
--   {"not_found"}                                no such sale
--   {"new"|"replay", outcome, order_id, qty, reserved_ms}
--     outcome: accepted | sold_out | limit | not_active (order_id etc. empty unless accepted)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local rec = redis.call('HMGET', KEYS[3], 'fp', 'outcome', 'order_id', 'qty', 'reserved_ms')
if rec[1] then
  if rec[1] ~= ARGV[3] then
    return {'reused'}
  end
  return {'replay', rec[2], rec[3] or '', rec[4] or '', rec[5] or ''}
end

local sale = redis.call('HMGET', KEYS[1], 'remaining', 'limit', 'starts_ms', 'ends_ms')
if not sale[1] then
  return {'not_found'}
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
  redis.call('HSET', KEYS[3], 'fp', ARGV[3], 'outcome', outcome, 'qty', ARGV[2])
  redis.call('EXPIRE', KEYS[3], ttl)
  return {'new', outcome, '', ARGV[2], ''}
end

redis.call('HINCRBY', KEYS[1], 'remaining', -qty)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
redis.call('HSET', KEYS[3], 'fp', ARGV[3], 'outcome', 'accepted', 'order_id', ARGV[4], 'qty', ARGV[2], 'reserved_ms', now)
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('ZADD', KEYS[4], now, ARGV[4])
-- No TTL while pending: the relay must always find what it has to publish.
redis.call('HSET', KEYS[5], 'user', ARGV[1], 'qty', ARGV[2], 'key', ARGV[6], 'reserved_ms', now, 'status', 'pending')
return {'new', 'accepted', ARGV[4], ARGV[2], tostring(now)}
