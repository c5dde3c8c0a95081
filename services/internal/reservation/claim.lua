-- claim.lua — a relay takes a lease on a pending order before re-publishing it,
-- so that several API replicas never publish the same stranded order at once
-- and the API's own release refuses an order a relay is publishing.
--
-- KEYS[1]  {sale:<id>}:pending      the outbox
-- KEYS[2]  {sale:<id>}:order:<id>   the reservation
-- ARGV[1]  order id
-- ARGV[2]  lease in milliseconds
--
-- Returns {user, qty, idempotency key, reserved_ms} when the lease is taken,
-- an empty array when another relay holds it, and drops outbox entries whose
-- reservation is no longer pending (returning an empty array).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local o = redis.call('HMGET', KEYS[2], 'status', 'user', 'qty', 'key', 'reserved_ms', 'claim_until')
if o[1] ~= 'pending' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {}
end
if o[6] and tonumber(o[6]) > now then
  return {}
end
redis.call('HSET', KEYS[2], 'claim_until', now + tonumber(ARGV[2]))
return {o[2], o[3], o[4], o[5]}
