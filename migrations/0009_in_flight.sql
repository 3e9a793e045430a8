-- While a connector call on a payment is under way (an authorize, capture or cancel), until when
-- it may last, in milliseconds: a sync, a provider's notification and the reconciler leave the
-- payment to that call until then, so none of them can settle it on an answer the call is about
-- to overtake. NULL when no call is under way.
ALTER TABLE payment_intents ADD COLUMN in_flight_until BIGINT;
