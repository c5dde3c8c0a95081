-- confirm.lua — the writer committed the order to PostgreSQL.
--
-- KEYS[1]  {sale:<id>}:order:<id>   the reservation
-- KEYS[2]  {sale:<id>}:pending      the outbox
-- ARGV[1]  order id
-- ARGV[2]  TTL in seconds the reservation record is kept from now on
--
-- Returns 1 when the reservation moved to confirmed, 0 when it was absent or
-- in a final state (released/failed stay as they are).
redis.call('ZREM', KEYS[2], ARGV[1])
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'pending' or st == 'published' or st == 'persisting' then
  redis.call('HSET', KEYS[1], 'status', 'confirmed')
  redis.call('HDEL', KEYS[1], 'claim_until')
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
