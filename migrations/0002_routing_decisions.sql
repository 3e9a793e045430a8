-- The routing decision that sent each attempt to its connector: script, version, candidates,
-- reason, time taken, and the payment view the script saw (no card number: network, BIN,
-- issuing country only), kept so a new script can be replayed against past payments.
ALTER TABLE payment_attempts ADD COLUMN routing TEXT;
