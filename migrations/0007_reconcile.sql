-- The reconciler's lease on a payment or refund left unsettled (a crash, an unclear answer):
-- `recheck_at` is when it may be looked at again, by whichever daemon claims it first, and
-- `rechecks` how often it has been, which spaces the next look further out.
ALTER TABLE payment_intents ADD COLUMN recheck_at BIGINT;
ALTER TABLE payment_intents ADD COLUMN rechecks BIGINT NOT NULL DEFAULT 0;
CREATE INDEX payment_intents_unsettled ON payment_intents (status, modified_at);

ALTER TABLE refunds ADD COLUMN recheck_at BIGINT;
ALTER TABLE refunds ADD COLUMN rechecks BIGINT NOT NULL DEFAULT 0;
CREATE INDEX refunds_unsettled ON refunds (status, modified_at);
