-- Large euro payments go to the acquirer with the better European pricing, dollars to the US
-- acquirer; everything else follows a default order. Each list ends with a fallback account.
local LARGE = 100000 -- 1,000.00 in minor units

return function(p, ctx)
  if p.currency == "EUR" and p.amount >= LARGE then
    return { "adyen", "stripe" }, "large EUR payment"
  elseif p.currency == "USD" then
    return { "stripe", "adyen" }, "USD"
  end
  return { "stripe", "adyen" }, "default"
end
