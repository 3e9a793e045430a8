-- Fintecture: pay by bank (open banking payment initiation) as a switchyard connector plugin.
--
-- The payer is sent to Fintecture's page to pick their bank and approve; the payment then settles
-- by status sync. Every call carries an HTTP signature (draft-cavage): the host signs with the
-- application's private key by its credential name, so the key never enters this file's state.

local STATUSES = {
  payment_created = "charged",
  payment_cancelled = "voided",
  payment_unsuccessful = "failure",
  payment_expired = "failure",
  sca_required = "authentication_pending",
  provider_required = "authentication_pending",
  session_initiated = "authentication_pending",
}

-- Date, X-Request-ID, Digest (when there is a body) and the Signature over them, in the order
-- Fintecture's SDKs sign: (request-target), date, digest, x-request-id.
local function signed(ctx, method, target, body)
  local headers = { ["Accept"] = "application/json", ["Date"] = time.http_date(), ["X-Request-ID"] = uuid.v4() }
  local lines = { "(request-target): " .. string.lower(method) .. " " .. target, "date: " .. headers["Date"] }
  local names = { "(request-target)", "date" }
  if body then
    headers["Content-Type"] = "application/json"
    headers["Digest"] = "SHA-256=" .. base64.encode(crypto.sha256(body))
    table.insert(lines, "digest: " .. headers["Digest"])
    table.insert(names, "digest")
  end
  table.insert(lines, "x-request-id: " .. headers["X-Request-ID"])
  table.insert(names, "x-request-id")
  local signature = base64.encode(crypto.rsa_sha256_sign("private_key", table.concat(lines, "\n")))
  headers["Signature"] = string.format(
    'keyId="%s",algorithm="rsa-sha256",headers="%s",signature="%s"',
    ctx.credentials.app_id, table.concat(names, " "), signature)
  if ctx.access_token then
    headers["Authorization"] = "Bearer " .. ctx.access_token
  end
  return headers
end

local function request(ctx, method, target, body)
  return { method = method, url = target, headers = signed(ctx, method, target, body), body = body }
end

-- Fintecture's error body: {"errors": [{"code": …, "title": …, "message": …}]}.
local function refusal(res)
  local first = res.json and res.json.errors and res.json.errors[1] or {}
  return { code = first.code or ("fintecture_http_" .. res.status), message = first.message or first.title }
end

-- Rate limits and unavailability mean nothing happened; a server error might hide a payment.
local function check_transport(res)
  if res.status == 429 or res.status == 503 then
    return { status = "failure", retryable = true, error = refusal(res) }
  end
  if res.status >= 500 then
    error("Fintecture answered HTTP " .. res.status)
  end
  return nil
end

local function payer_name(billing)
  local address = billing and billing.address or {}
  local name = table.concat({ address.first_name or "", address.last_name or "" }, " "):match("^%s*(.-)%s*$")
  return name ~= "" and name or "Customer"
end

return {
  name = "fintecture",
  api_version = 1,
  supports = { open_banking = { "open_banking_pis" } },
  currencies = { "EUR" },
  credentials = { "app_id", "app_secret", "private_key" },
  secrets = { "app_secret", "private_key" },
  base_url = "https://api-sandbox.fintecture.com",

  access_token = {
    build = function(ctx)
      return {
        method = "POST",
        url = "/oauth/accesstoken",
        headers = {
          ["Authorization"] = { basic = { "app_id", "app_secret" } },
          ["Content-Type"] = "application/x-www-form-urlencoded",
          ["Accept"] = "application/json",
        },
        body = form.encode({ grant_type = "client_credentials", app_id = ctx.credentials.app_id, scope = "PIS" }),
      }
    end,
    parse = function(ctx, _, res)
      if res.status ~= 200 or not (res.json and res.json.access_token) then
        error("Fintecture refused the access token request: HTTP " .. res.status)
      end
      return { token = res.json.access_token, expires_in = res.json.expires_in or 3600 }
    end,
  },

  authorize = {
    build = function(ctx, pay)
      local target = "/pis/v2/connect?state=" .. url.encode(pay.payment_id)
        .. "&redirect_uri=" .. url.encode(pay.return_url)
      local body = json.encode({
        meta = { psu_name = payer_name(pay.billing), psu_email = pay.billing and pay.billing.email },
        data = {
          type = "PIS",
          attributes = {
            amount = pay.amount_decimal,
            currency = pay.currency,
            communication = "Payment " .. pay.payment_id,
          },
        },
      })
      return request(ctx, "POST", target, body)
    end,
    parse = function(ctx, pay, res)
      local transport = check_transport(res)
      if transport then return transport end
      local meta = res.json and res.json.meta
      if res.status >= 400 or not (meta and meta.session_id and meta.url) then
        return { status = "failure", error = refusal(res) }
      end
      return { status = "authentication_pending", connector_payment_id = meta.session_id, redirect_url = meta.url }
    end,
  },

  sync = {
    build = function(ctx, p)
      return request(ctx, "GET", "/pis/v2/payments/" .. url.encode(p.connector_payment_id), nil)
    end,
    parse = function(ctx, p, res)
      local transport = check_transport(res)
      if transport then return transport end
      local meta = res.json and res.json.meta
      if res.status >= 400 or not (meta and meta.status) then
        error("cannot read the payment session: HTTP " .. res.status)
      end
      local status = STATUSES[meta.status] or "pending"
      local failed = status == "failure" and { code = meta.status, message = "Fintecture: " .. meta.status } or nil
      return { status = status, connector_payment_id = p.connector_payment_id, error = failed }
    end,
  },

  -- A session the payer has not paid can be cancelled.
  void = {
    build = function(ctx, p)
      local body = json.encode({ meta = { status = "payment_cancelled" } })
      return request(ctx, "PATCH", "/pis/v2/payments/" .. url.encode(p.connector_payment_id), body)
    end,
    parse = function(ctx, p, res)
      local transport = check_transport(res)
      if transport then return transport end
      if res.status >= 400 then error("Fintecture refused to cancel: HTTP " .. res.status) end
      return { status = "voided", connector_payment_id = p.connector_payment_id }
    end,
  },

  -- Fintecture's notifications carry, in the Signature header, the text
  -- "date: …\ndigest: …\nx-request-id: …" encrypted to this application's public key (RSA-OAEP).
  -- It verifies when it decrypts with the private key and agrees with the headers and the body.
  webhook = {
    verify = function(ctx, req)
      local encrypted = (req.headers["signature"] or ""):match('signature="([^"]+)"')
      if not encrypted then error("no signature") end
      local signed = {}
      for line in crypto.rsa_oaep_decrypt("private_key", base64.decode(encrypted)):gmatch("[^\n]+") do
        local name, value = line:match("^([%w%-]+):%s*(.*)$")
        if name then signed[string.lower(name)] = value end
      end
      local digest = "SHA-256=" .. base64.encode(crypto.sha256(req.body))
      if signed.digest ~= digest or req.headers["digest"] ~= digest then error("the digest does not match the body") end
      if signed["x-request-id"] ~= req.headers["x-request-id"] then error("the request id does not match") end
      local sent = signed.date and time.parse_http_date(signed.date)
      if not sent or math.abs(time.now() - sent) > 300 then error("the date is missing or more than five minutes away") end
      return true
    end,
    parse = function(ctx, req)
      local event = form.decode(req.body)
      if not event.session_id or not event.status then return nil end
      local status = STATUSES[event.status] or "pending"
      local failed = status == "failure" and { code = event.status } or nil
      return { kind = "payment", connector_payment_id = event.session_id, status = status, error = failed }
    end,
  },

  refund = {
    build = function(ctx, r)
      local body = json.encode({
        meta = { session_id = r.connector_payment_id },
        data = { attributes = { amount = r.amount_decimal, communication = "Refund " .. r.refund_id } },
      })
      return request(ctx, "POST", "/pis/v2/refund", body)
    end,
    parse = function(ctx, r, res)
      local transport = check_transport(res)
      if transport then return { status = "failed", retryable = true } end
      if res.status >= 400 then
        return { status = "failed", error = refusal(res) }
      end
      -- The refund is a transfer the bank executes later: it is pending until Fintecture says so.
      local meta = res.json and res.json.meta or {}
      return { status = "pending", connector_refund_id = meta.session_id or meta.id }
    end,
  },
}
