-- wrk script for benches/load/run.sh: every request is the documented create-and-confirm call
-- (POST /v2/payments) for the demo merchant. The benchmark's profile accepts the card's past
-- expiry (reject_expired_cards = false). nginx, the baseline, is sent the same request.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["api-key"] = "sy_sk_EcUKnRGm9ycfbQOyR2PYq322lLfeY3hm"
wrk.headers["X-Profile-Id"] = "pro_demo"
-- The body is payment.json, which the fixed-rate run sends too; run.sh runs from the repository
-- root.
local file = assert(io.open("benches/load/payment.json", "r"))
wrk.body = file:read("*a")
file:close()

-- Each wrk thread has its own Lua state; keep them so done() can add up their counters.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non_2xx = 0
  first_bad_status = nil
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
    if first_bad_status == nil then
      first_bad_status = status
    end
  end
end

function done(summary, latency, requests)
  local bad, bad_status = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("non_2xx") or 0)
    bad_status = (bad_status ~= 0 and bad_status) or thread:get("first_bad_status") or 0
  end
  local e = summary.errors
  -- One line for run.sh: requests/s, p50 and p99 in ms, non-2xx answers (and the first one's
  -- status), socket errors.
  io.write(string.format("result %.1f %.2f %.2f %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, bad, bad_status, e.connect + e.read + e.write + e.timeout))
end
