// The payment link's page: confirms the payment from the browser with the publishable key and
// the payment's client secret. The card goes in a JSON body to the daemon and nowhere else: the
// fields have no names (a form sent without this script carries nothing), nothing is kept in the
// browser's storage, and every outcome is read back from the page the daemon renders.
"use strict";
(function () {
  const payment = JSON.parse(document.getElementById("payment").textContent);
  const status = document.getElementById("status");
  const buttons = Array.from(document.querySelectorAll("button"));

  function announce(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  function busy(on) {
    buttons.forEach(function (b) { b.disabled = on; });
    document.body.setAttribute("aria-busy", on ? "true" : "false");
  }

  function field(id) { return document.getElementById(id); }

  // Marks a field wrong (or right again), with its message read out beside it.
  function mark(id, message) {
    const input = field(id);
    const error = field(id + "-error");
    input.setAttribute("aria-invalid", message ? "true" : "false");
    error.textContent = message || "";
    error.hidden = !message;
    return !message;
  }

  function digits(id) { return field(id).value.replace(/[\s-]/g, ""); }

  function checkCard() {
    const number = digits("card-number");
    const month = digits("card-exp-month");
    const year = digits("card-exp-year");
    const cvc = digits("card-cvc");
    const checks = [
      mark("card-number", /^\d{12,19}$/.test(number) ? "" : "Enter the card number: 12 to 19 digits."),
      mark("card-exp-month", /^(0?[1-9]|1[0-2])$/.test(month) ? "" : "Enter the expiry month, 01 to 12."),
      mark("card-exp-year", /^(\d{2}|\d{4})$/.test(year) ? "" : "Enter the expiry year, as on the card."),
      mark("card-cvc", /^\d{3,4}$/.test(cvc) ? "" : "Enter the 3 or 4 digit security code."),
    ];
    const first = ["card-number", "card-exp-month", "card-exp-year", "card-cvc"][checks.indexOf(false)];
    if (first) {
      announce("Some card details need correcting.");
      field(first).focus();
      return null;
    }
    return {
      payment_method_type: "card",
      payment_method_subtype: "credit",
      payment_method_data: { card: {
        card_number: number,
        card_exp_month: month.padStart(2, "0"),
        card_exp_year: year,
        card_holder_name: field("card-holder").value.trim(),
        card_cvc: cvc,
      } },
    };
  }

  function forgetCard() {
    ["card-number", "card-cvc"].forEach(function (id) { field(id).value = ""; });
  }

  function reason(answer) {
    const error = answer && answer.error;
    return (error && (error.unified_message || error.message)) || "The payment could not be made.";
  }

  async function confirm(method) {
    busy(true);
    announce("");
    let response;
    let answer;
    try {
      response = await fetch("/v2/payments/" + encodeURIComponent(payment.payment_id) + "/confirm-intent", {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "Authorization": "publishable-key=" + payment.publishable_key + ",client-secret=" + payment.client_secret,
        },
        body: JSON.stringify(method),
        cache: "no-store",
        credentials: "omit",
      });
      answer = await response.json();
    } catch (e) {
      busy(false);
      announce("The payment could not be sent. Check your connection and try again.");
      return;
    }
    const next = answer.next_action;
    if (response.ok && next && next.type === "redirect_to_url") {
      // 3-D Secure or the bank's page; the payer comes back to this page.
      window.location.assign(next.redirect_to_url);
      return;
    }
    if (response.ok && answer.status === "requires_payment_method") {
      busy(false);
      forgetCard();
      announce("The payment was declined: " + reason(answer) + " You can try again with another card.");
      if (field("card-number")) field("card-number").focus();
      return;
    }
    if (response.ok || (answer.error && answer.error.code === "IR_14")) {
      // Paid, failed, or settled meanwhile: the page shows where the payment stands.
      window.location.replace(window.location.pathname);
      return;
    }
    busy(false);
    announce(reason(answer));
  }

  const form = field("card-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const method = checkCard();
      if (method) confirm(method);
    });
  }
  const bank = field("pay-by-bank");
  if (bank) {
    bank.addEventListener("click", function () {
      confirm({
        payment_method_type: "open_banking",
        payment_method_subtype: "open_banking_pis",
        payment_method_data: { open_banking: { open_banking_pis: {} } },
      });
    });
  }
})();
