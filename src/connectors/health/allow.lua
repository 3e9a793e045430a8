-- Whether a call may go to a connector account now, by the rules of `Health::allow`: a closed
-- circuit takes every call; an open one none until its cool-down has passed, then one probe
-- (one across every daemon sharing it), and no other until the probe's outcome is recorded or
-- it has gone unanswered for a cool-down.
-- KEYS: the state hash. ARGV: the cool-down (ms).
-- Returns {1 or 0, circuit}.
local h = redis.call('HMGET', KEYS[1], 'state', 'since')
local state = h[1] or 'closed'
if state == 'closed' then return {1, state} end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if now - tonumber(h[2] or '0') < tonumber(ARGV[1]) then return {0, state} end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'since', now)
return {1, 'half_open'}
