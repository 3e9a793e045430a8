-- American Express goes to the account that acquires it directly; other networks split between
-- two acquirers by volume, the other one as fallback.
return function(p, ctx)
  local network = p.card and p.card.network
  if network == "AmericanExpress" then
    return { "amex_direct", "stripe" }, "Amex acquired directly"
  end
  return ctx.split(p.id, { stripe = 50, adyen = 50 }), "split " .. (network or "unknown network")
end
