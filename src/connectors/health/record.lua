-- Records one call in a connector account's shared window and moves its circuit by the rules of
-- `Health::record` (connectors/health/mod.rs), whose thresholds come as arguments: over at least
-- `min_calls` calls, fewer than `healthy_rate` of them succeeded or half were slower than `slow`
-- opens it; a half-open circuit's probe closes it with a fresh window, or opens it again.
-- KEYS: the state hash, the window list.
-- ARGV: ok (1 or 0), took (µs), window, min_calls, healthy_rate, slow (µs), keep (ms the keys
-- outlive the last call).
-- Returns {circuit, calls, ok}.
local state_key, calls_key = KEYS[1], KEYS[2]
local ok, took = tonumber(ARGV[1]), tonumber(ARGV[2])
local window, min_calls = tonumber(ARGV[3]), tonumber(ARGV[4])
local healthy_rate, slow_us, keep = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])

local h = redis.call('HMGET', state_key, 'state', 'since', 'ok', 'slow')
local state, since = h[1] or 'closed', tonumber(h[2] or '0')
local oks, slows = tonumber(h[3] or '0'), tonumber(h[4] or '0')
local slow = took > slow_us

redis.call('LPUSH', calls_key, ok .. ',' .. took)
oks = oks + ok
if slow then slows = slows + 1 end
local calls = redis.call('LLEN', calls_key)
if calls > window then
  local gone = redis.call('RPOP', calls_key)
  local comma = string.find(gone, ',', 1, true)
  oks = oks - tonumber(string.sub(gone, 1, comma - 1))
  if tonumber(string.sub(gone, comma + 1)) > slow_us then slows = slows - 1 end
  calls = calls - 1
end

local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if state == 'half_open' then
  if ok == 1 and not slow then
    redis.call('DEL', calls_key)
    calls, oks, slows, state = 0, 0, 0, 'closed'
  else
    state, since = 'open', now
  end
elseif state == 'closed' and calls >= min_calls and (oks / calls < healthy_rate or slows * 2 >= calls) then
  state, since = 'open', now
end
redis.call('HSET', state_key, 'state', state, 'since', since, 'ok', oks, 'slow', slows)
redis.call('PEXPIRE', state_key, keep)
redis.call('PEXPIRE', calls_key, keep)
return {state, calls, oks}
