-- Routing for the demo profile: the profile's accounts in the order configured, healthy ones
-- first, so an account that keeps failing is tried last rather than first.
return function(p, ctx)
  return ctx.first_healthy(ctx.accounts), "configured order, healthy first"
end
