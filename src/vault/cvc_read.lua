-- A kept security code: its sealed bytes and the milliseconds it has left, read at one instant,
-- so that the expiry shown with a code is its own. Nothing when there is none.
local sealed = redis.call('GET', KEYS[1])
if not sealed then
  return false
end
return { sealed, redis.call('PTTL', KEYS[1]) }
