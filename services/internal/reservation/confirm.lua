-- confirm.lua — the writer committed these orders to PostgreSQL.
-- One call confirms many orders of one sale (one cluster slot).
--
-- KEYS[1]    {sale:<id>}:pending      the outbox
-- KEYS[2..]  {sale:<id>}:order:<id>   the reservations
-- ARGV[1]    TTL in seconds the reservation records are kept from now on
-- ARGV[2..]  the order ids, in the order of KEYS[2..]
--
-- Returns how many reservations moved to confirmed (absent ones and final
-- states — released, failed — stay as they are).
local ttl = tonumber(ARGV[1])
local n = 0
for i = 2, #KEYS do
  redis.call('ZREM', KEYS[1], ARGV[i])
  local st = redis.call('HGET', KEYS[i], 'status')
  if st == 'pending' or st == 'published' or st == 'persisting' then
    redis.call('HSET', KEYS[i], 'status', 'confirmed')
    redis.call('HDEL', KEYS[i], 'claim_until')
    redis.call('EXPIRE', KEYS[i], ttl)
    n = n + 1
  end
end
return n
