-- Health-aware failover: a primary acquirer, and a secondary one that takes over while the primary
-- is failing or slow. Health is the live success rate and p95 latency of each account's recent calls.
local SLOW_MS = 2000

return function(p, ctx)
  local primary = ctx.health("primary")
  if primary and (not primary.healthy or primary.p95_ms > SLOW_MS) then
    return { "secondary", "primary" }, "primary unhealthy"
  end
  return { "primary", "secondary" }, "primary healthy"
end
