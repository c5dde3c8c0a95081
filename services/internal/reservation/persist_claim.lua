-- persist_claim.lua — the writer claims a reservation before inserting its
-- order into PostgreSQL, so that the API can no longer release it (a publish
-- that timed out at the API may still have reached Kafka).
--
-- KEYS[1]  {sale:<id>}:order:<id>   the reservation
--
-- Returns the stage the writer must act on:
--   "ok"        pending/published/persisting -> now persisting: insert it
--   "absent"    no reservation (expired, or Redis lost it): insert it
--   "confirmed" already persisted: the insert is an idempotent no-op
--   "released"  the API released it after a failed publish (its client heard
--               503): do not persist it
--   "failed"    already compensated: do not persist it
local st = redis.call('HGET', KEYS[1], 'status')
if not st then
  return 'absent'
end
if st == 'pending' or st == 'published' or st == 'persisting' then
  redis.call('HSET', KEYS[1], 'status', 'persisting')
  redis.call('HDEL', KEYS[1], 'claim_until')
  return 'ok'
end
return st
