-- ack.lua — the broker acknowledged an order's event: take it out of the outbox.
--
-- KEYS[1]  {sale:<id>}:pending      the outbox
-- KEYS[2]  {sale:<id>}:order:<id>   the reservation
-- ARGV[1]  order id
-- ARGV[2]  TTL in seconds the reservation record is kept from now on
--
-- Returns 1 when the order moved pending -> published, 0 when it was in
-- another state (already published by the relay, released, failed…).
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('HGET', KEYS[2], 'status') == 'pending' then
  redis.call('HSET', KEYS[2], 'status', 'published')
  redis.call('HDEL', KEYS[2], 'claim_until')
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
  return 1
end
return 0
