-- release.lua — return a reservation's stock (compensation), atomically.
--
-- KEYS[1]  {sale:<id>}                 sale hash (remaining)
-- KEYS[2]  {sale:<id>}:users           per-user held quantity
-- KEYS[3]  {sale:<id>}:idem:<digest>   the order's idempotency record
-- KEYS[4]  {sale:<id>}:pending         the outbox
-- KEYS[5]  {sale:<id>}:order:<id>      the reservation
-- KEYS[6]  {sale:<id>}:holds           live checkout holds (issue #14)
-- ARGV[1]  order id
-- ARGV[2]  mode:
--   "publish_failed"  the API could not publish it: release only while it is
--                     still pending and no relay holds a live claim on it; the
--                     idempotency record is dropped so the client may retry
--                     with the same key. The reservation is kept as
--                     "released" (TTL ARGV[3]) so a late duplicate is refused.
--   "rejected"        the writer rejected it permanently (saga): release it
--                     unless it is already released/failed/confirmed; the
--                     order then reads "failed".
-- ARGV[3]  TTL in seconds for the released/failed reservation record
--
-- Returns 1 released, 0 refused (the caller no longer owns it), -1 unknown order.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local o = redis.call('HMGET', KEYS[5], 'status', 'user', 'qty', 'claim_until', 'hold', 'returned')
if not o[1] then
  return -1
end
local status = o[1]
if ARGV[2] == 'publish_failed' then
  if status ~= 'pending' then return 0 end
  if o[4] and tonumber(o[4]) > now then return 0 end
  redis.call('DEL', KEYS[3])
  redis.call('HSET', KEYS[5], 'status', 'released')
elseif ARGV[2] == 'rejected' then
  if status ~= 'pending' and status ~= 'published' and status ~= 'persisting' then return 0 end
  redis.call('HSET', KEYS[5], 'status', 'failed')
else
  return redis.error_reply('release: unknown mode ' .. tostring(ARGV[2]))
end

local qty = tonumber(o[3])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('EXPIRE', KEYS[5], tonumber(ARGV[3]))
-- A hold that already ended by expiry or cancellation gave its units back
-- (hold.lua): they must not come back twice.
if o[6] then
  return 1
end
local live = redis.call('HEXISTS', KEYS[1], 'stock') == 1
if o[5] then
  -- a held order released or compensated: its hold ends void, and a paid
  -- one's units return too (the writer refused the order itself)
  redis.call('ZREM', KEYS[6], ARGV[1])
  if live then
    redis.call('HINCRBY', KEYS[1], o[5] == 'paid' and 'paid' or 'held', -qty)
  end
  redis.call('HSET', KEYS[5], 'hold', 'void', 'returned', '1')
end
-- A frozen sale (no hash: being rebuilt from PostgreSQL, which recomputes
-- remaining) must not get back a hash holding only "remaining".
if live then
  redis.call('HINCRBY', KEYS[1], 'remaining', qty)
end
if redis.call('HINCRBY', KEYS[2], o[2], -qty) <= 0 then
  redis.call('HDEL', KEYS[2], o[2])
end
return 1
