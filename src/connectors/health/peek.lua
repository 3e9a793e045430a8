-- A connector account's shared health, read at once: its circuit, how many of the window's
-- calls succeeded, and the window's calls (`ok,took_µs`), for the daemon to read the rest from.
-- KEYS: the state hash, the window list.
-- Returns {circuit, ok, calls}.
local h = redis.call('HMGET', KEYS[1], 'state', 'ok')
return {h[1] or 'closed', tonumber(h[2] or '0'), redis.call('LRANGE', KEYS[2], 0, -1)}
