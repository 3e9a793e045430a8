-- Adyen Checkout (API v71): card payments as a switchyard connector plugin.
--
-- The API key travels only as a header the host writes in ({ secret = "api_key" }), and the card
-- only as placeholders the host fills in after this file has run: neither ever enters this state.
-- Adyen answers the outcome of a payment in the call itself (`resultCode`), but captures, cancels
-- and refunds are only *received* there and confirmed later by webhook; Adyen has no endpoint to
-- read a payment back, so this plugin defines no `sync`.

local API = "/v71"

-- Fields are read by their type: a JSON null may reach Lua as a value that is neither nil nor
-- false (hosts before null became nil), and Adyen sends some codes as numbers, some as strings.
local function object(v)
  return type(v) == "table" and v or nil
end

local function text(v)
  if type(v) == "number" then return tostring(v) end
  return type(v) == "string" and v or nil
end

-- Adyen's `resultCode` of a payment, for an automatic capture. An authorisation that is held
-- (manual capture) is `authorized` instead of `charged`; see `authorised`.
local RESULTS = {
  Authorised = "charged",
  Refused = "failure",
  Error = "failure",
  Cancelled = "failure",
  RedirectShopper = "authentication_pending",
  IdentifyShopper = "authentication_pending",
  ChallengeShopper = "authentication_pending",
  Pending = "pending",
  Received = "pending",
}

-- Every call is JSON, keyed by the merchant's API key. Adyen stores the answer of a call under
-- its Idempotency-Key, so a call repeated after a lost answer cannot pay, capture or refund twice.
local function request(path, idempotency_key, body)
  return {
    method = "POST",
    url = API .. path,
    headers = {
      ["X-API-Key"] = { secret = "api_key" },
      ["Content-Type"] = "application/json",
      ["Accept"] = "application/json",
      ["Idempotency-Key"] = idempotency_key,
    },
    body = json.encode(body),
  }
end

-- Adyen's error body: {"status": 422, "errorCode": "101", "message": "Invalid card number", …}.
local function refusal(res)
  local body = object(res.json) or {}
  return { code = text(body.errorCode) or ("adyen_http_" .. res.status), message = text(body.message) }
end

-- Adyen's answer to a bad key (401/403), a rate limit (429) or unavailability (503) means it did
-- nothing, so another account may try. Any other server error might hide a payment that went
-- through: raising leaves the outcome unclear for the host to keep pending.
local function unavailable(res)
  local s = res.status
  return s == 401 or s == 403 or s == 429 or s == 503
end

local function check_server(res)
  if res.status >= 500 then
    error("Adyen answered HTTP " .. res.status)
  end
end

local function amount(args)
  return { value = args.amount, currency = args.currency }
end

-- The payment's pspReference is in the path of every modification; never let it change the path.
local function modification_path(args, what)
  local psp = text(args.connector_payment_id)
  if not psp then
    error("no Adyen pspReference for this payment")
  end
  return "/payments/" .. url.encode(psp) .. "/" .. what
end

-- A capture, cancel or refund is accepted with 201 `status: "received"`; the outcome comes later
-- by webhook. One Adyen refused (4xx) changed nothing; any other answer may hide one it took, so
-- it raises. Returns nil once received, else Adyen's refusal and whether another account may try.
local function modification_refusal(res, what)
  if unavailable(res) then
    return refusal(res), true
  end
  check_server(res)
  if res.status >= 400 then
    return refusal(res), false
  end
  local body = object(res.json)
  if res.status ~= 201 or body == nil or body.status ~= "received" then
    error("Adyen answered HTTP " .. res.status .. " to a " .. what .. " without `received`")
  end
  return nil
end

local function authorised(pay)
  return pay.capture_method == "manual" and "authorized" or "charged"
end

-- What Adyen's answer to a payment (or to the payer's return) means.
local function payment_outcome(pay, res)
  if unavailable(res) then
    return { status = "failure", retryable = true, error = refusal(res) }
  end
  check_server(res)
  if res.status >= 400 then
    -- A request Adyen validated and refused (a bad card number, an unsupported currency):
    -- nothing was charged, but another account would refuse it as well.
    return { status = "failure", error = refusal(res) }
  end
  local body = object(res.json)
  local result = body and text(body.resultCode)
  if res.status ~= 200 or not result then
    error("Adyen answered HTTP " .. res.status .. " without a resultCode")
  end
  local status = RESULTS[result]
  if not status then
    -- e.g. PresentToShopper (a voucher): not a card outcome this plugin knows how to settle.
    error("Adyen answered an unexpected resultCode `" .. tostring(result) .. "`")
  end
  if result == "Authorised" then
    status = authorised(pay)
  end
  local out = { status = status, connector_payment_id = text(body.pspReference) }
  if status == "failure" then
    out.error = {
      code = text(body.refusalReasonCode) or string.lower(result),
      message = text(body.refusalReason) or ("Adyen: " .. result),
    }
  elseif status == "authentication_pending" then
    -- A redirect (3-D Secure 1, or 3-D Secure 2 through Adyen's page) carries the page's URL;
    -- a native 3-D Secure 2 action carries none, and the customer cannot be sent anywhere.
    local action = object(body.action)
    out.redirect_url = action and text(action.url)
  end
  return out
end

return {
  name = "adyen",
  api_version = 1,
  supports = { card = { "credit", "debit" } },
  currencies = {
    "EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF",
    "AUD", "CAD", "NZD", "JPY", "SGD", "HKD",
  },
  credentials = { "api_key", "merchant_account" },
  secrets = { "api_key" },
  base_url = "https://checkout-test.adyen.com",
  -- Every call carries an Idempotency-Key made from the attempt: a repeated authorize is safe.
  idempotent = true,

  authorize = {
    build = function(ctx, pay)
      local method = {
        type = "scheme",
        number = "{{card.number}}",
        expiryMonth = "{{card.exp_month}}",
        expiryYear = "{{card.exp_year}}",
        cvc = "{{card.cvc}}",
      }
      -- The host fills an absent holder name in as an empty string: send none rather than "".
      local card = object(pay.card)
      if card and text(card.holder_name) then
        method.holderName = "{{card.holder_name}}"
      end
      local body = {
        amount = amount(pay),
        reference = pay.payment_id,
        merchantAccount = ctx.credentials.merchant_account,
        paymentMethod = method,
        returnUrl = pay.return_url,
      }
      if pay.capture_method == "manual" then
        -- Held until switchyard captures, whatever the merchant account's default capture delay.
        body.additionalData = { manualCapture = "true" }
      else
        body.captureDelayHours = 0
      end
      -- One attempt is one payment at Adyen, however many times the call is repeated.
      return request("/payments", pay.attempt_id, body)
    end,
    parse = function(ctx, pay, res)
      return payment_outcome(pay, res)
    end,
  },

  -- The payer is back from Adyen's page with `redirectResult`; only /payments/details with it
  -- says how the challenge went. The answer reads like a payment's.
  complete_authorize = {
    build = function(ctx, p)
      local details = { details = { redirectResult = p.params.redirectResult } }
      return request("/payments/details", p.attempt_id .. ":details", details)
    end,
    parse = function(ctx, p, res)
      return payment_outcome(p, res)
    end,
  },

  capture = {
    build = function(ctx, p)
      return request(modification_path(p, "captures"), p.attempt_id .. ":capture:" .. p.amount, {
        amount = amount(p),
        merchantAccount = ctx.credentials.merchant_account,
        reference = p.attempt_id,
      })
    end,
    parse = function(ctx, p, res)
      local refused = modification_refusal(res, "capture")
      if refused then
        -- Adyen took no capture (more than authorised, an unknown pspReference): the payment is
        -- as it was. The contract has no "refused" answer; `retryable` is the one that leaves the
        -- attempt untouched and tells the caller why.
        return { status = "failure", retryable = true, error = refused }
      end
      -- Received now; the rare capture that fails later, Adyen reports by its CAPTURE webhook.
      -- The host tells a partial capture from `amount_captured`.
      return {
        status = "charged",
        connector_payment_id = text(p.connector_payment_id),
        amount_captured = p.amount,
      }
    end,
  },

  void = {
    build = function(ctx, p)
      return request(modification_path(p, "cancels"), p.attempt_id .. ":cancel", {
        merchantAccount = ctx.credentials.merchant_account,
        reference = p.attempt_id,
      })
    end,
    parse = function(ctx, p, res)
      local refused = modification_refusal(res, "cancel")
      if refused then
        -- As for captures: nothing was cancelled, the payment stays as it was.
        return { status = "failure", retryable = true, error = refused }
      end
      return { status = "voided", connector_payment_id = text(p.connector_payment_id) }
    end,
  },

  refund = {
    build = function(ctx, r)
      -- switchyard's refund id is both Adyen's reference (shown in its reports and webhooks) and
      -- the idempotency key: one refund here is one refund at Adyen.
      return request(modification_path(r, "refunds"), r.refund_id, {
        amount = amount(r),
        merchantAccount = ctx.credentials.merchant_account,
        reference = r.refund_id,
      })
    end,
    parse = function(ctx, r, res)
      local refused, retryable = modification_refusal(res, "refund")
      if refused then
        return { status = "failed", retryable = retryable, error = refused }
      end
      -- Adyen confirms (or fails) a refund only by its REFUND webhook: pending until then.
      return { status = "pending", connector_refund_id = text(res.json.pspReference) }
    end,
  },

  -- Session tokens need no call: the payer's device encrypts the card for Adyen, named by the
  -- merchant account, and the merchant's name and country come from the account's metadata.
  session_tokens = {
    google_pay = function(ctx, s)
      local setup = object(ctx.metadata.google_pay) or {}
      local info = object(setup.merchant_info)
      if not info or not text(info.merchant_name) then
        error("metadata.google_pay.merchant_info.merchant_name is not set")
      end
      return {
        merchant_info = { merchant_name = text(info.merchant_name), merchant_id = text(info.merchant_id) },
        allowed_payment_methods = {
          {
            type = "CARD",
            parameters = {
              allowed_auth_methods = { "PAN_ONLY", "CRYPTOGRAM_3DS" },
              allowed_card_networks = { "AMEX", "MASTERCARD", "VISA" },
            },
            tokenization_specification = {
              type = "PAYMENT_GATEWAY",
              parameters = { gateway = "adyen", gateway_merchant_id = ctx.credentials.merchant_account },
            },
          },
        },
        transaction_info = {
          country_code = text(ctx.metadata.country_code),
          currency_code = s.currency,
          total_price_status = "FINAL",
          total_price = s.amount_decimal,
        },
      }
    end,
  },
}
