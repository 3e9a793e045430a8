-- Takes one unit from every bucket in KEYS, or from none: the generic cell rate algorithm, which
-- keeps of a bucket only its theoretical arrival time (TAT), the instant at which it would be
-- full again. A unit comes back every `interval` and at most `burst` are held, so a call is taken
-- when the TAT it leaves is at most `burst` intervals ahead of now.
--
-- KEYS[i]: bucket i, holding its TAT in microseconds of this server's clock (so the callers'
-- clocks never matter); ARGV[2i - 1]: its interval in microseconds; ARGV[2i]: its burst.
-- Answers {0, 0} when taken, else {i, microseconds until bucket i, the first that refuses, would
-- take it}. A taken bucket's key expires at its TAT: a full bucket and no key are the same.
-- (Reading TIME before writing needs Redis 5 or later, which replicates what a script wrote
-- rather than the script.)

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tats = {}
for i, key in ipairs(KEYS) do
    local interval = tonumber(ARGV[2 * i - 1])
    local burst = tonumber(ARGV[2 * i])
    local tat = math.max(tonumber(redis.call('GET', key) or 0), now) + interval
    local wait = tat - now - burst * interval
    if wait > 0 then
        return {i, wait}
    end
    tats[i] = tat
end
for i, key in ipairs(KEYS) do
    -- '%d': Lua would write so large a number with 14 digits and lose the microseconds.
    redis.call('SET', key, string.format('%d', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000))
end
return {0, 0}
