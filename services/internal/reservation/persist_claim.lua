-- persist_claim.lua — the writer claims reservations before inserting their
-- orders into PostgreSQL, so that the API can no longer release them (a
-- publish that timed out at the API may still have reached Kafka).
-- One call claims many orders of one sale (one cluster slot): per-order
-- calls made Redis the writer's bottleneck.
--
-- KEYS[i]  {sale:<id>}:order:<id>   the reservations, all of one sale
--
-- Returns, for each key in order, the stage the writer must act on:
--   "persisting" pending/published/persisting -> now persisting: insert it
--   "gone"      no reservation (expired, or Redis lost it): insert it
--   "confirmed" already persisted: the insert is an idempotent no-op
--   "released"  the API released it after a failed publish (its client heard
--               503): do not persist it
--   "failed"    already compensated: do not persist it
local out = {}
for i, key in ipairs(KEYS) do
  local st = redis.call('HGET', key, 'status')
  if not st then
    out[i] = 'gone'
  elseif st == 'pending' or st == 'published' or st == 'persisting' then
    redis.call('HSET', key, 'status', 'persisting')
    redis.call('HDEL', key, 'claim_until')
    out[i] = 'persisting'
  else
    out[i] = st
  end
end
return out
