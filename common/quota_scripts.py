"""The Lua scripts behind provider quotas (`multillm.common.quota`), each one atomic in Redis.

Times are Redis's own clock (`TIME`) unless a caller passes one (tests), so workers on machines
whose clocks disagree still share one timeline.

A reservation lives in every window's log from before its request leaves until the provider has
answered: while pending its score is the moment it is given up for lost (a worker that died), and
`SETTLE` restamps it with the time the response headers arrived. The provider counted the request
somewhere between the two, so the log never frees a slot before the provider's own window does,
whatever the delay between reservation and arrival (a proof is in README, Quotas).

Views: what the provider's `x-ratelimit-*` / `anthropic-ratelimit-*` headers last said, one hash per
dimension (requests, tokens, input, output): limit, remaining (less what was sent since), reset_at,
period (the longest reset seen), seq (the reservation the figures came from). Only a reservation
made after the one that last wrote a view may replace it, so a late answer never undoes a newer one.
"""

from __future__ import annotations

# Shared prelude: the clock.
_NOW = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""


# Shared helpers. A reservation's record: "seq acquired_ms w_requests w_tokens w_input w_output".
_OURS = """
local function fields(text)
  local out = {}
  for x in string.gmatch(text, '%S+') do out[#out + 1] = tonumber(x) or x end
  return out
end
-- What the provider may still count of ours in dimension d (1-4): calls answered since `from` and calls
-- not answered yet; and the oldest of those answers (when the first of them leaves its window).
local function ours(settled, pending, from, d)
  local sum, oldest = 0, nil
  local answered = redis.call('ZRANGEBYSCORE', settled, from, '+inf', 'WITHSCORES')
  for j = 1, #answered, 2 do
    sum = sum + fields(answered[j])[2 + d]
    if oldest == nil then oldest = tonumber(answered[j + 1]) end
  end
  for _, r in ipairs(redis.call('HVALS', pending)) do sum = sum + fields(r)[2 + d] end
  return sum, oldest
end
"""
# Headroom on the provider's period when counting what it still holds of ours: its reset is measured a
# moment after it counted the request.
PERIOD_PAD_MS = 20
# Slow start lets a second call go when the first has waited this long for its headers.
LEARNING_GATE_MS = 5_000

# KEYS: cooldown, concurrency zset, pending zset, pending hash, seq, blind, 4 views, settled zset, then
#       (zset, hash, total) per window.
# ARGV: now_ms (-1: Redis time), id, max_concurrent, hold_ms, pending_hold_ms, learn (1: slow start with no
#       view), 4 view weights (requests, tokens, input, output), then (limit, window_ms, weight) per window.
# Returns {0, 0} when reserved, {wait_ms, window index} when not, {-1, index} when impossible;
# index -2 cooldown, -3 concurrency, -4 learning (slow start), -5..-8 a provider view.
ACQUIRE = _NOW + _OURS + f"""
local pad = {PERIOD_PAD_MS}
local LEARNING_GATE_MS = {LEARNING_GATE_MS}
""" + """
local id = ARGV[2]
local cool = redis.call('PTTL', KEYS[1])
if cool > 0 then return {cool, -2} end
local maxc = tonumber(ARGV[3])
if maxc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= maxc then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {math.max(1, math.min(tonumber(first[2]) - now, 100)), -3}
  end
end
local lost = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
if #lost > 0 then
  for _, m in ipairs(lost) do  -- a worker died waiting: count its call as answered now
    local record = redis.call('HGET', KEYS[4], m)
    if record then redis.call('ZADD', KEYS[11], now, record .. ' ' .. m) end
  end
  redis.call('HDEL', KEYS[4], unpack(lost))
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
end
local views = {}
for d = 0, 3 do
  local key, weight = KEYS[7 + d], tonumber(ARGV[7 + d])
  local v = redis.call('HMGET', key, 'limit', 'remaining', 'reset_at', 'period', 'sole')
  if v[1] and weight > 0 then
    local limit, remaining, reset_at, period = tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])
    local sole, oldest = v[5] == '1', nil
    if now >= reset_at or (sole and remaining < weight) then
      -- Past the provider's reset, or the key is ours alone: its window holds at most what we sent
      -- within its period.
      local used
      used, oldest = ours(KEYS[11], KEYS[4], now - period - pad, d + 1)
      if now >= reset_at then remaining, reset_at = limit - used, now
      else remaining = math.max(remaining, limit - used) end
      redis.call('HSET', key, 'remaining', remaining, 'reset_at', reset_at)
    end
    if weight > limit then return {-1, -5 - d} end
    if remaining < weight then
      if reset_at > now and not sole then return {reset_at - now + 1, -5 - d} end
      return {math.max(1, (oldest or now) + period + pad - now + 1), -5 - d}
    end
    views[#views + 1] = {key, weight}
  elseif d == 0 and tonumber(ARGV[6]) == 1 and redis.call('EXISTS', KEYS[6]) == 0 then
    -- slow start: one call at a time, but a call unanswered for a while (its worker may have died)
    -- stops holding the others back
    local recent = now + tonumber(ARGV[5]) - LEARNING_GATE_MS
    if redis.call('ZCOUNT', KEYS[3], recent, '+inf') >= 1 then return {25, -4} end
  end
end
local base = 11
local n = (#KEYS - base) / 3
local wait, which = 0, 0
for i = 0, n - 1 do
  local z, h, t = KEYS[base + 1 + i * 3], KEYS[base + 2 + i * 3], KEYS[base + 3 + i * 3]
  local limit, window, weight = tonumber(ARGV[11 + i * 3]), tonumber(ARGV[12 + i * 3]), tonumber(ARGV[13 + i * 3])
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', now - window)
  if #old > 0 then
    local freed = 0
    for _, m in ipairs(old) do freed = freed + tonumber(redis.call('HGET', h, m) or '0') end
    redis.call('HDEL', h, unpack(old))
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now - window)
    redis.call('DECRBY', t, freed)
  end
  if weight > limit then return {-1, i} end
  local total = tonumber(redis.call('GET', t) or '0')
  if total + weight > limit then
    local need = total + weight - limit
    local entries = redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')
    local freed, w = 0, window
    for j = 1, #entries, 2 do
      freed = freed + tonumber(redis.call('HGET', h, entries[j]) or '0')
      if freed >= need then
        -- a pending entry (scored with its lapse time) will be stamped no earlier than now: it frees a
        -- window from now at the soonest, and the wait is worked out again then
        w = math.min(tonumber(entries[j + 1]), now) + window - now + 1
        break
      end
    end
    if w > wait then wait, which = w, i end
  end
end
if wait > 0 then return {wait, which} end
local lease = now + tonumber(ARGV[5])
for i = 0, n - 1 do
  local z, h, t = KEYS[base + 1 + i * 3], KEYS[base + 2 + i * 3], KEYS[base + 3 + i * 3]
  local window, weight = tonumber(ARGV[12 + i * 3]), tonumber(ARGV[13 + i * 3])
  redis.call('ZADD', z, lease, id)
  redis.call('HSET', h, id, weight)
  redis.call('INCRBY', t, weight)
  local keep = tonumber(ARGV[5]) + window * 2
  redis.call('PEXPIRE', z, keep) redis.call('PEXPIRE', h, keep) redis.call('PEXPIRE', t, keep)
end
for _, v in ipairs(views) do redis.call('HINCRBY', v[1], 'remaining', -v[2]) end
local seq = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[3], lease, id)
redis.call('HSET', KEYS[4], id, table.concat({seq, now, ARGV[7], ARGV[8], ARGV[9], ARGV[10]}, ' '))
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]) * 2) redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[5]) * 2)
if maxc > 0 then redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), id) end
return {0, 0, now}
"""

# KEYS: pending zset, pending hash, blind, settled zset, stats hash, 4 views, then one zset per window.
# ARGV: now_ms (-1: Redis time), id, answered (0: no response, 1: a response without rate-limit headers,
#       2: a response with them), then (limit, remaining, reset_ms) per view dimension (-1: not sent).
# Returns the time the reservation was stamped with (ms), or 0 when it was not pending any more.
# The provider's remaining count is as of this request's arrival; what may not be in it yet is subtracted:
# reservations still pending, and older ones answered since this one was made (they may have arrived
# after it). Newer ones answered already wrote a newer view, which this one then leaves alone.
SETTLE = _NOW + _OURS + f"""
local pad = {PERIOD_PAD_MS}
""" + """
local id = ARGV[2]
local record = redis.call('HGET', KEYS[2], id)
redis.call('ZREM', KEYS[1], id)
redis.call('HDEL', KEYS[2], id)
for i = 10, #KEYS do
  local score = redis.call('ZSCORE', KEYS[i], id)
  if score and tonumber(score) > now then redis.call('ZADD', KEYS[i], now, id) end
end
local answered = tonumber(ARGV[3])
if answered == 1 then redis.call('SET', KEYS[3], '1', 'PX', 3600000) end
if not record then return 0 end
local mine = fields(record)
local delay = now - mine[2]
local worst = tonumber(redis.call('HGET', KEYS[5], 'max_delay_ms') or '0')
redis.call('HSET', KEYS[5], 'last_delay_ms', delay, 'max_delay_ms', math.max(worst, delay))
redis.call('PEXPIRE', KEYS[5], 3600000)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 600000)
redis.call('ZADD', KEYS[4], now, record .. ' ' .. id)
redis.call('PEXPIRE', KEYS[4], 600000)
if answered ~= 2 then return now end
redis.call('DEL', KEYS[3])
local others = {0, 0, 0, 0}
local function add(f) for d = 1, 4 do others[d] = others[d] + f[2 + d] end end
for _, r in ipairs(redis.call('HVALS', KEYS[2])) do add(fields(r)) end
for _, r in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], mine[2], '+inf')) do
  local f = fields(r)
  if f[1] < mine[1] then add(f) end
end
for d = 0, 3 do
  local limit, remaining, reset = tonumber(ARGV[4 + d * 3]), tonumber(ARGV[5 + d * 3]), tonumber(ARGV[6 + d * 3])
  local key = KEYS[6 + d]
  local seen = tonumber(redis.call('HGET', key, 'seq') or '0')
  if limit >= 0 and remaining >= 0 and mine[1] > seen then
    local period = math.max(tonumber(redis.call('HGET', key, 'period') or '0'), reset, 1000)
    if reset < 0 then reset = period end
    -- The key is ours alone when what the provider has used is no more than what we sent in its period.
    local used = ours(KEYS[4], KEYS[2], now - period - pad, d + 1)
    local sole = (limit - remaining <= used) and '1' or '0'
    redis.call('HSET', key, 'limit', limit, 'remaining', remaining - others[d + 1], 'reset_at', now + reset,
               'period', period, 'seq', mine[1], 'sole', sole)
    redis.call('PEXPIRE', key, period * 2 + 60000)
  end
end
return now
"""

# KEYS: hash, total   ARGV: id, actual weight
RECONCILE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCRBY', KEYS[2], tonumber(ARGV[2]) - tonumber(old))
return 1
"""
