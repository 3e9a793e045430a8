-- Indexes that hold only the rows their lookups can match. Every index a write touches costs the
-- write a page of the write-ahead log; a payment with no merchant reference, or one no longer
-- processing, has no entry to keep in these.

-- A reference is unique within a profile; a payment without one is found by its id.
DROP INDEX payment_intents_reference;
CREATE UNIQUE INDEX payment_intents_reference
    ON payment_intents (merchant_id, profile_id, merchant_reference_id)
    WHERE merchant_reference_id IS NOT NULL;

-- The reconciler looks only for payments still processing and refunds still pending.
DROP INDEX payment_intents_unsettled;
CREATE INDEX payment_intents_processing ON payment_intents (modified_at) WHERE status = 'processing';

DROP INDEX refunds_unsettled;
CREATE INDEX refunds_pending ON refunds (modified_at) WHERE status = 'pending';
