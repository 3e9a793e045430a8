-- A deterministic 70/30 volume split: the same payment id always goes to the same acquirer (so a
-- retried confirmation lands where the first one did), and over many payments each gets its share.
-- The other account follows as fallback.
return function(p, ctx)
  return ctx.split(p.id, { stripe = 70, adyen = 30 }), "70/30 split"
end
