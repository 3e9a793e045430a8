#!/usr/bin/env bash
# A walk through switchyard's payments API with curl, against a running daemon on the default
# configuration (`cargo run --release`). Each step prints the call and the status it led to, and
# the script stops at the first answer that is not what the step expects.
#
#   examples/walkthrough.sh                      # http://127.0.0.1:8080, the demo key and profile
#   SY=http://127.0.0.1:9090 examples/walkthrough.sh
set -euo pipefail
cd "$(dirname "$0")"

SY="${SY:-http://127.0.0.1:8080}"
KEY="${KEY:-sy_sk_EcUKnRGm9ycfbQOyR2PYq322lLfeY3hm}"
PROFILE="${PROFILE:-pro_demo}"
# The demo merchant's publishable key: what a checkout page's code holds instead of the secret key.
PK="${PK:-sy_pk_649nrVxlNFs3xIFwQs6oCErAkeHdG1CE}"

# call METHOD PATH [BODY-FILE-OR-JSON] -> prints the response body
call() {
    local method=$1 path=$2 body=${3:-}
    local args=(-sS --noproxy '*' -X "$method" -H "api-key: $KEY" -H "X-Profile-Id: $PROFILE")
    if [ -n "$body" ]; then
        [ -f "$body" ] && body=$(cat "$body")
        args+=(-H 'Content-Type: application/json' -d "$body")
    fi
    curl "${args[@]}" "$SY$path"
}

# client PATH JSON -> a POST from client-side code: the publishable key, no profile header
client() {
    curl -sS --noproxy '*' -X POST -H "api-key: $PK" -H 'Content-Type: application/json' -d "$2" "$SY$1"
}

# field JSON NAME -> one top-level (or dotted) field of a JSON document
field() {
    python3 -c 'import json,sys; v=json.loads(sys.argv[1])
for k in sys.argv[2].split("."): v=v[int(k)] if isinstance(v,list) else v[k]
print(v)' "$1" "$2"
}

# expect WHAT JSON FIELD VALUE
expect() {
    local got
    got=$(field "$2" "$3")
    printf '%-44s %s = %s\n' "$1" "$3" "$got"
    if [ "$got" != "$4" ]; then
        echo "  expected $3 = $4; the answer was: $2" >&2
        exit 1
    fi
}

run=$(date +%s%N)

# 1. The documented create-and-confirm request.
pay=$(call POST /v2/payments requests/create-and-confirm.json)
expect "create and confirm" "$pay" status succeeded
id=$(field "$pay" id)
expect "read it back" "$(call GET "/v2/payments/$id")" status succeeded

# 2. Authorize now, capture part later, refund part of that.
auth=$(call POST /v2/payments requests/manual-capture.json)
expect "authorize (manual capture)" "$auth" status requires_capture
auth_id=$(field "$auth" id)
expect "capture 3000 of 6540" "$(call POST "/v2/payments/$auth_id/capture" '{"amount_to_capture":3000}')" status partially_captured
refund=$(call POST /v2/refunds "{\"payment_id\":\"$auth_id\",\"merchant_reference_id\":\"r_$run\",\"amount\":1000}")
expect "refund 1000" "$refund" status succeeded
expect "read the refund back" "$(call GET "/v2/refunds/$(field "$refund" id)")" amount 1000

# 3. Cancel an authorization.
void=$(call POST /v2/payments requests/manual-capture.json)
expect "cancel an authorization" "$(call POST "/v2/payments/$(field "$void" id)/cancel" '{"cancellation_reason":"order abandoned"}')" status cancelled

# 4. Intent first, confirmation later.
intent=$(call POST /v2/payments/create-intent requests/create-intent.json)
expect "create an intent" "$intent" status requires_payment_method
intent_id=$(field "$intent" id)
expect "its net amount" "$intent" amount_details.net_amount 3000
expect "confirm it" "$(call POST "/v2/payments/$intent_id/confirm-intent" requests/confirm-intent.json)" status succeeded

# 5. 3-D Secure: the customer completes the sandbox's page, then returns to the shop.
tds=$(call POST /v2/payments requests/three-ds.json)
expect "3-D Secure card" "$tds" status requires_customer_action
page=$(field "$tds" next_action.redirect_to_url)
echo "customer is sent to                           $page"
location=$(curl -sS --noproxy '*' -o /dev/null -w '%{redirect_url}' -d outcome=success "$page")
echo "after completing it, the browser goes to      $location"
expect "the payment after authentication" "$(call GET "/v2/payments/$(field "$tds" id)")" status succeeded

# 6. A mistake is answered in the wire format and changes nothing.
bad=$(call POST /v2/payments '{"amount_details":{"currency":"USD","order_amount":-1}}')
expect "a negative amount" "$bad" error.code IR_06

# 7. A customer: kept for the merchant, read back, changed, deleted.
customer=$(call POST /v2/customers '{"name":"John Doe","email":"guest@example.com","phone":"999999999","phone_country_code":"+65"}')
customer_id=$(field "$customer" id)
expect "create a customer" "$customer" email guest@example.com
expect "read it back" "$(call GET "/v2/customers/$customer_id")" phone 999999999
expect "change the email" "$(call PUT "/v2/customers/$customer_id" '{"name":"John Doe","email":"john@example.com"}')" email john@example.com
expect "delete it" "$(call DELETE "/v2/customers/$customer_id")" customer_deleted True
expect "it is gone" "$(call GET "/v2/customers/$customer_id")" error.code HE_02

# 8. Checkout with wallets: the server creates the intent and hands its client secret to the
#    page; the page asks for the wallets' session tokens with the publishable key.
checkout=$(call POST /v2/payments/create-intent requests/create-intent.json)
secret=$(field "$checkout" client_secret)
tokens=$(client /payments/session_tokens "{\"payment_id\":\"$(field "$checkout" id)\",\"client_secret\":\"$secret\",\"wallets\":[\"google_pay\",\"apple_pay\",\"paypal\"]}")
expect "Google Pay session token" "$tokens" session_token.0.transaction_info.total_price 30.00
expect "Apple Pay session token" "$tokens" session_token.1.payment_request_data.total.label "Demo shop"
expect "a wallet nobody offers" "$tokens" session_token.2.wallet_name no_session_token_received

# 9. Save a card for a customer, then pay with it.
owner=$(field "$(call POST /v2/customers '{"name":"Jane Doe","email":"jane@example.com"}')" id)
pm=$(field "$(call POST /v2/payment-methods/create-intent "{\"customer_id\":\"$owner\"}")" id)
saved=$(call POST "/v2/payment-methods/$pm/confirm-intent" requests/save-card.json)
expect "save a card" "$saved" payment_method_data.card.last4_digits 4242
expect "the customer's saved cards" "$(call GET "/v2/customers/$owner/saved-payment-methods")" customer_payment_methods.0.id "$pm"
expect "pay with the saved card" "$(call POST /v2/payments "{\"amount_details\":{\"order_amount\":6540,\"currency\":\"USD\"},\"customer_id\":\"$owner\",\"payment_method_type\":\"card\",\"payment_method_id\":\"$pm\"}")" status succeeded

# 10. Paying from the payer's browser: the page holds the publishable key and the intent's client
#     secret, asks how it may pay, and confirms with the card, which never passes the shop's server.
bought=$(call POST /v2/payments/create-intent requests/create-intent.json)
browser=(-sS --noproxy '*' -H 'Content-Type: application/json'
    -H "Authorization: publishable-key=$PK,client-secret=$(field "$bought" client_secret)")
ways=$(curl "${browser[@]}" "$SY/v2/payments/$(field "$bought" id)/payment-methods")
expect "the page asks how it may pay" "$ways" payment_methods_enabled.0.payment_method_type card
expect "the page confirms with the card" "$(curl "${browser[@]}" -d @requests/confirm-intent.json "$SY/v2/payments/$(field "$bought" id)/confirm-intent")" status succeeded

echo "walk-through complete"
