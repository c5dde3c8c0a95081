-- upsert_sale.lua — create a sale or update it; stock changes apply as deltas.
--
-- KEYS[1]  {sale:<id>}   hash: name stock remaining limit starts_ms ends_ms hold_ms
-- ARGV[1]  name
-- ARGV[2]  stock (total units ever offered)
-- ARGV[3]  per-user limit
-- ARGV[4]  starts_ms (unix ms)
-- ARGV[5]  ends_ms (unix ms, 0 = open-ended)
-- ARGV[6]  "update" to refuse creating it: the durable ledger already defined
--          the sale, so a missing hash means Redis lost it ({-2}); "upsert" else
-- ARGV[7]  hold_ms: the checkout window in ms (0 = none; issue #14). It
--          applies to orders reserved from now on; live holds keep theirs.
--
-- Returns {1} created, {0} updated, {-1, sold} refused: the new stock would be
-- below what is already sold (reserved or persisted), {-2} refused: an update
-- of a sale Redis lost (re-creating it would offer its sold units again).
local cur = redis.call('HMGET', KEYS[1], 'stock', 'remaining')
local fields = {'name', ARGV[1], 'stock', ARGV[2], 'limit', ARGV[3], 'starts_ms', ARGV[4], 'ends_ms', ARGV[5], 'hold_ms', ARGV[7]}
if not cur[1] then
  if ARGV[6] == 'update' then
    return {-2}
  end
  redis.call('HSET', KEYS[1], 'remaining', ARGV[2], unpack(fields))
  return {1}
end
local sold = tonumber(cur[1]) - tonumber(cur[2])
if tonumber(ARGV[2]) < sold then
  return {-1, sold}
end
redis.call('HINCRBY', KEYS[1], 'remaining', tonumber(ARGV[2]) - tonumber(cur[1]))
redis.call('HSET', KEYS[1], unpack(fields))
return {0}
