-- hold.lua — the checkout window's transitions (issue #14), atomically, in
-- one round trip under the sale's hash tag.
--
-- An order of a sale with a window is "held" from its reservation until
-- expires_ms (reserve.lua). From there exactly one of these ends it:
--   pay     held -> paid: the units are the buyer's for good
--   cancel  held -> cancelled: the units go back
--   expire  held -> expired, once now >= expires_ms: the units go back
-- Payment and expiry race inside Redis, so exactly one wins: a payment at or
-- after expires_ms finds the hold due, expires it and loses. Units go back
-- to the sale's remaining and to the buyer's allowance exactly once: every
-- path that returns an order's units (this script, release.lua) marks the
-- order "returned" and refuses one already marked.
--
-- KEYS[1]  {sale:<id>}                 sale hash: remaining held paid expired cancelled
-- KEYS[2]  {sale:<id>}:users           hash: user id -> quantity held by live reservations
-- KEYS[3]  {sale:<id>}:holds           sorted set: live holds, order id scored by expires_ms
-- KEYS[4]  pay, cancel: {sale:<id>}:order:<id>; expire: {sale:<id>}:ended
-- KEYS[5]  pay: {sale:<id>}:payidem:<digest>, the payment's idempotency record
--          (cancel: unused, any key of the sale); expire: KEYS[5..] are the
--          orders to expire
-- KEYS[6]  {sale:<id>}:ended           pay, cancel: the transitions outbox (expire: KEYS[4] is
--                                      the outbox and KEYS[5..] the orders)
--
-- Every hold that ends (paid, cancelled, expired) is added to the
-- transitions outbox {sale:<id>}:ended, scored by when it ended: its event
-- (OrderPaid, OrderCancelled, OrderExpired) is published from there and
-- acknowledged out of it, as reservations are from {sale:<id>}:pending.
-- ARGV[1]  mode: pay | cancel | expire
-- ARGV[2]  pay, cancel: the caller's user id (only the owner may pay or cancel)
-- ARGV[3]  pay: the request's fingerprint (same key + another body = reused)
-- ARGV[4]  pay: the payment reference
-- ARGV[5]  pay: the idempotency record's TTL in seconds
--
-- A frozen sale (its hash gone: being rebuilt from PostgreSQL) changes
-- nothing: {"frozen"}.
--
-- Returns, for pay and cancel, {outcome, hold, expires_ms, paid_ms, traceparent}:
--   outcome: paid | cancelled | expired | not_required | not_found | failed |
--            reused | frozen — what happened or why nothing did; hold is the
--            order's hold state after the call; traceparent the order
--            request's, when it was sampled ('' else).
-- and for expire {summed lateness in ms, expired order id...} (lateness: now
-- - expires_ms at the moment each was expired).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mode = ARGV[1]

if redis.call('HEXISTS', KEYS[1], 'stock') == 0 then
  if mode == 'expire' then return {'0'} end
  return {'frozen', '', '', '', ''}
end
local outbox = KEYS[6]
if mode == 'expire' then outbox = KEYS[4] end

-- The hold ends with its units back in the sale: remaining, the buyer's
-- count and the held total, once.
local function give_back(key, id, o, state)
  local qty = tonumber(o.qty)
  redis.call('HINCRBY', KEYS[1], 'remaining', qty)
  redis.call('HINCRBY', KEYS[1], 'held', -qty)
  redis.call('HINCRBY', KEYS[1], state, qty)
  if redis.call('HINCRBY', KEYS[2], o.user, -qty) <= 0 then
    redis.call('HDEL', KEYS[2], o.user)
  end
  redis.call('ZREM', KEYS[3], id)
  redis.call('HSET', key, 'hold', state, 'returned', '1', 'ended_ms', now)
  redis.call('ZADD', outbox, now, id)
end

local function read(key)
  local v = redis.call('HMGET', key, 'user', 'qty', 'status', 'hold', 'expires_ms', 'paid_ms', 'returned', 'tp')
  return {user = v[1], qty = v[2], status = v[3], hold = v[4], expires = v[5], paid = v[6], returned = v[7], tp = v[8]}
end

-- A held order whose window has passed expires now, whoever asks.
local function expire_if_due(key, id, o)
  if o.hold == 'held' and not o.returned and now >= tonumber(o.expires) then
    give_back(key, id, o, 'expired')
    o.hold = 'expired'
    return now - tonumber(o.expires)
  end
  return nil
end

if mode == 'expire' then
  local out, late = {''}, 0
  for i = 5, #KEYS do
    local id = string.match(KEYS[i], ':order:(.+)$')
    local o = read(KEYS[i])
    if not o.user then
      redis.call('ZREM', KEYS[3], id) -- the reservation is gone (its record expired)
    elseif o.hold ~= 'held' or o.returned then
      redis.call('ZREM', KEYS[3], id) -- ended some other way
    else
      local l = expire_if_due(KEYS[i], id, o)
      if l then
        late = late + l
        out[#out + 1] = id
      end
    end
  end
  out[1] = tostring(late)
  return out
end

local key = KEYS[4]
local id = string.match(key, ':order:(.+)$')
local o = read(key)
if not o.user or o.user ~= ARGV[2] or o.status == 'released' then
  -- unknown, someone else's, or released after a failed publish (its buyer
  -- heard 503): not an order of this caller
  return {'not_found', '', '', '', ''}
end

local function reply(outcome)
  return {outcome, o.hold or '', o.expires or '', o.paid or '', o.tp or ''}
end

if mode == 'pay' then
  local rec = redis.call('HMGET', KEYS[5], 'fp', 'outcome')
  if rec[1] then
    if rec[1] ~= ARGV[3] then return reply('reused') end
    return reply(rec[2])
  end
end

local outcome
if not o.hold then
  outcome = 'not_required'
else
  expire_if_due(key, id, o)
  if o.hold == 'held' and o.returned then
    outcome = 'failed' -- compensated by the writer (release.lua) while held
  elseif o.hold == 'void' then
    outcome = 'failed'
  elseif mode == 'pay' then
    if o.hold == 'held' then
      local qty = tonumber(o.qty)
      redis.call('HSET', key, 'hold', 'paid', 'paid_ms', now, 'ended_ms', now, 'payment_ref', ARGV[4])
      redis.call('ZREM', KEYS[3], id)
      redis.call('ZADD', outbox, now, id)
      redis.call('HINCRBY', KEYS[1], 'held', -qty)
      redis.call('HINCRBY', KEYS[1], 'paid', qty)
      o.hold, o.paid = 'paid', tostring(now)
    end
    outcome = o.hold -- paid, expired or cancelled
  elseif mode == 'cancel' then
    if o.hold == 'held' then
      give_back(key, id, o, 'cancelled')
      o.hold = 'cancelled'
    end
    outcome = o.hold -- cancelled, paid or expired
  else
    return redis.error_reply('hold: unknown mode ' .. tostring(mode))
  end
end

if mode == 'pay' then
  redis.call('HSET', KEYS[5], 'fp', ARGV[3], 'outcome', outcome)
  redis.call('EXPIRE', KEYS[5], tonumber(ARGV[5]))
end
return reply(outcome)
