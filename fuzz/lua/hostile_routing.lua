-- A routing script that answers what the payment view selects (`amount`), filled with the first
-- value of its metadata (of any shape): wrong types, NaN and huge numbers, nested tables, cycles,
-- errors that are not strings, and the host's helpers fed whatever the payment carries. The host
-- must take each as a choice or an error.
return function(p, ctx)
  local m = p.metadata or {}
  local _, v = next(m)
  local pick = p.amount % 20
  if pick == 0 then return { p.id, p.customer_id, p.billing_country } end
  if pick == 1 then return 0 / 0 end
  if pick == 2 then return { math.huge, -math.huge, 0 / 0 }, 2 ^ 63 end
  if pick == 3 then local t = {} t[1] = t return t, t end
  if pick == 4 then return { { { v } } }, { reason = v } end
  if pick == 5 then
    return setmetatable({}, { __index = function() error("an index that fails") end, __len = function() return 1e308 end })
  end
  if pick == 6 then error(v) end
  if pick == 7 then return ctx.split(p.id, m) end
  if pick == 8 then return ctx.first_healthy(v) end
  if pick == 9 then return ctx.health(v) end
  if pick == 10 then return string.rep(p.id, p.attempt % 1000) end
  if pick == 11 then error(string.rep(p.id, p.attempt % 1000)) end
  if pick == 12 then coroutine.yield(p) end
  if pick == 13 then local t = {} for i = 1, p.attempt % 200 do t[i] = ctx.accounts[i % #ctx.accounts + 1] end return t end
  if pick == 14 then return ctx.split(v, { [p.currency] = p.amount, [p.id] = p.attempt }) end
  if pick == 15 then return v, v end
  if pick == 16 then return ctx.accounts, tostring(ctx.now()) end
  if pick == 17 then return { p.card and p.card.network, p.card and p.card.bin } end
  if pick == 18 then return ctx.first_healthy(ctx.accounts), p.payment_method_subtype end
  return { ctx.accounts[1] }, v
end
