-- A connector plugin whose build and parse answer what `args.pick` selects, filled with
-- `args.value` (both put there by the fuzz target, the value of any shape): wrong types, NaN and
-- huge numbers, nested tables, cycles, errors that are not strings, the host's JSON fed whatever
-- the call carries. The host must turn each into a request, an outcome or an error.
local function answer(args, res)
  local pick, v = args.pick, args.value
  if pick == 0 then return 0 / 0 end
  if pick == 1 then return { method = 0 / 0, url = math.huge } end
  if pick == 2 then local t = { method = "GET", url = "/x" } t.headers = { loop = t } t.self = t return t end
  if pick == 3 then return { method = "POST", url = "/x", headers = { h = { basic = { v, v, v } } }, body = { { v } } } end
  if pick == 4 then return { status = 1e308, connector_payment_id = -0.0, amount_captured = 2 ^ 63 } end
  if pick == 5 then return { status = "charged", amount_captured = 0 / 0, connector_payment_id = v } end
  if pick == 6 then return { status = "failure", error = { code = v, message = v } } end
  if pick == 7 then return setmetatable({}, { __index = function() error("an index that fails") end }) end
  if pick == 8 then error(v) end
  if pick == 9 then return v end
  if pick == 10 then return res end
  if pick == 11 then return string.rep("x", 1e6) end
  if pick == 12 then return coroutine.create(function() end) end
  if pick == 13 then return { status = "charged", amount_captured = v } end
  if pick == 14 then return json.decode(type(v) == "string" and v or "null") end
  if pick == 15 then return { method = "POST", url = "/x", headers = v, body = json.encode(args) } end
  if pick == 16 then return { kind = "payment", status = "charged", connector_payment_id = v, error = v } end
  if pick == 17 then return { method = v, url = v, headers = { [tostring(v)] = v }, body = v } end
  if pick == 18 then return { status = v, redirect_url = v, connector_reference_id = v, retryable = v } end
  return { status = "charged", connector_payment_id = tostring(v) }
end

local flow = {
  build = function(ctx, args) return answer(args) end,
  parse = function(ctx, args, res) return answer(args, res) end,
}

return {
  name = "hostile", api_version = 1, supports = { card = "any" }, currencies = "any",
  authorize = flow, complete_authorize = flow, sync = flow, capture = flow, void = flow, refund = flow,
  refund_sync = flow, access_token = flow,
  webhook = {
    verify = function(ctx, req) return #req.body % 2 == 0 end,
    parse = function(ctx, req) return answer({ pick = #req.body % 20, value = json.decode(req.body) }) end,
  },
}
