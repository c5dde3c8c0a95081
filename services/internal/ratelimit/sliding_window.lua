-- sliding_window.lua — per-user sliding-window rate limit, one round trip.
--
-- KEYS[1]  ratelimit:{<user id>}   sorted set of request timestamps (ms)
-- ARGV[1]  limit: requests allowed per window
-- ARGV[2]  window in milliseconds
-- ARGV[3]  a unique member suffix for this request
--
-- Returns {allowed (1|0), remaining, reset_ms}: reset_ms is the time until the
-- oldest counted request leaves the window (when one more request is allowed).
-- A rejected request is not counted, and touches nothing but this key.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local allowed = 0
if n < limit then
  redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  n = n + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = window
if oldest[2] then
  reset = tonumber(oldest[2]) + window - now
end
return {allowed, limit - n, reset}
