-- wrk script for benches/load.sh: every request is the documented create-and-confirm call
-- (POST /v2/payments) for the demo merchant, paid with the sandbox's always-succeeding card.
-- The demo profile accepts the card's past expiry (reject_expired_cards = false).

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["api-key"] = "sy_sk_EcUKnRGm9ycfbQOyR2PYq322lLfeY3hm"
wrk.headers["X-Profile-Id"] = "pro_demo"
wrk.body = [[{
  "amount_details": {
    "currency": "USD",
    "order_amount": 6540
  },
  "payment_method_data": {
    "card": {
      "card_cvc": "123",
      "card_exp_month": "10",
      "card_exp_year": "25",
      "card_holder_name": "joseph Doe",
      "card_number": "4242424242424242"
    }
  },
  "payment_method_subtype": "credit",
  "payment_method_type": "card"
}]]

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
  local bad, bad_status = 0, nil
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("non_2xx") or 0)
    bad_status = bad_status or thread:get("first_bad_status")
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write("---- summary ----\n")
  io.write(string.format("requests:      %d in %.1f s\n", summary.requests, seconds))
  io.write(string.format("requests/s:    %.1f\n", summary.requests / seconds))
  io.write(string.format("latency p50:   %.2f ms\n", latency:percentile(50) / 1000))
  io.write(string.format("latency p99:   %.2f ms\n", latency:percentile(99) / 1000))
  io.write(string.format("latency max:   %.2f ms\n", latency.max / 1000))
  if bad_status then
    io.write(string.format("non-2xx:       %d (first seen: HTTP %d)\n", bad, bad_status))
  else
    io.write(string.format("non-2xx:       %d\n", bad))
  end
  io.write(string.format("socket errors: connect %d, read %d, write %d, timeout %d\n",
    e.connect, e.read, e.write, e.timeout))
end
