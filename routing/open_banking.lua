-- Open banking payments (pay by bank) go to Fintecture, the only account that takes them; cards go
-- to the card acquirers.
return function(p, ctx)
  if p.payment_method_type == "open_banking" then
    return { "fintecture" }, "open banking"
  end
  return { "stripe", "adyen" }, "card"
end
