-- Forgets the security code at KEYS[1] if it is still the one a payment read (ARGV[1], its sealed
-- bytes, which a fresh nonce makes unique): a code given since then stays.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
