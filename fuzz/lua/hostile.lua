-- A connector plugin whose build and parse answer what `args.pick` selects: wrong types, NaN and
-- huge numbers, nested tables, cycles, errors that are not strings, the host's JSON fed whatever
-- the call carries. The host must turn each into a request, an outcome or an error.
local function answer(args, res)
  local pick = args.pick
  if pick == 0 then return 0 / 0 end
  if pick == 1 then return { method = 0 / 0, url = math.huge } end
  if pick == 2 then local t = { method = "GET", url = "/x" } t.headers = { loop = t } t.self = t return t end
  if pick == 3 then return { method = "POST", url = "/x", headers = { h = { basic = { 1, 2, 3 } } }, body = { { {} } } } end
  if pick == 4 then return { status = 1e308, connector_payment_id = -0.0, amount_captured = 2 ^ 63 } end
  if pick == 5 then return { status = "charged", amount_captured = 0 / 0, connector_payment_id = args.id } end
  if pick == 6 then return { status = "failure", error = { code = {}, message = 1 } } end
  if pick == 7 then return setmetatable({}, { __index = function() error("an index that fails") end }) end
  if pick == 8 then error(args) end
  if pick == 9 then return args end
  if pick == 10 then return res end
  if pick == 11 then return string.rep("x", 1e6) end
  if pick == 12 then return coroutine.create(function() end) end
  if pick == 13 then return { status = args.status, redirect_url = args.url, amount_captured = args.n, retryable = args.r } end
  if pick == 14 then return json.decode(type(args.text) == "string" and args.text or "null") end
  if pick == 15 then return { method = "POST", url = "/x", headers = args.headers, body = json.encode(args) } end
  if pick == 16 then return { kind = args.kind, status = args.status, connector_payment_id = args.id, error = args.error } end
  if pick == 17 then return { method = args.method, url = args.url, headers = args.headers, body = args.body } end
  return { status = "charged", connector_payment_id = tostring(args.id) }
end

local flow = {
  build = function(ctx, args) return answer(args) end,
  parse = function(ctx, args, res) return answer(args, res) end,
}

return {
  name = "hostile", api_version = 1, supports = { card = {} },
  authorize = flow, complete_authorize = flow, sync = flow, capture = flow, void = flow, refund = flow,
  refund_sync = flow, access_token = flow,
  webhook = {
    verify = function(ctx, req) return #req.body % 2 == 0 end,
    parse = function(ctx, req) return answer(json.decode(req.body)) end,
  },
}
