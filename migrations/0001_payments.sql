-- Payment intents, their attempts and refunds. Portable SQL: the same file runs on SQLite and
-- PostgreSQL. Times are Unix milliseconds; JSON documents are TEXT. Card numbers and security
-- codes never have a column: `card` holds only last four, BIN, network, expiry and holder.

CREATE TABLE payment_intents (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL,
    profile_id            TEXT NOT NULL,
    merchant_reference_id TEXT,
    status                TEXT NOT NULL,
    currency              TEXT NOT NULL,
    net_amount            BIGINT NOT NULL,
    amount_details        TEXT NOT NULL,
    capture_method        TEXT NOT NULL,
    authentication_type   TEXT NOT NULL,
    customer_id           TEXT,
    client_secret         TEXT NOT NULL,
    expires_at            BIGINT NOT NULL,
    amount_captured       BIGINT NOT NULL,
    amount_refunded       BIGINT NOT NULL,
    active_attempt_id     TEXT,
    details               TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    modified_at           BIGINT NOT NULL
);

-- A merchant's reference names one payment per profile; the database, not the caller, enforces it.
CREATE UNIQUE INDEX payment_intents_reference
    ON payment_intents (merchant_id, profile_id, merchant_reference_id);

CREATE TABLE payment_attempts (
    id                     TEXT PRIMARY KEY,
    payment_id             TEXT NOT NULL REFERENCES payment_intents (id),
    connector_account      TEXT NOT NULL,
    connector              TEXT NOT NULL,
    status                 TEXT NOT NULL,
    net_amount             BIGINT NOT NULL,
    payment_method_type    TEXT NOT NULL,
    payment_method_subtype TEXT,
    card                   TEXT,
    payment_method_billing TEXT,
    authentication_type    TEXT NOT NULL,
    connector_payment_id   TEXT,
    connector_reference_id TEXT,
    next_action            TEXT,
    error                  TEXT,
    cancellation_reason    TEXT,
    created_at             BIGINT NOT NULL,
    modified_at            BIGINT NOT NULL
);

CREATE INDEX payment_attempts_payment ON payment_attempts (payment_id, created_at);

CREATE TABLE refunds (
    id                    TEXT PRIMARY KEY,
    payment_id            TEXT NOT NULL REFERENCES payment_intents (id),
    attempt_id            TEXT NOT NULL REFERENCES payment_attempts (id),
    merchant_id           TEXT NOT NULL,
    profile_id            TEXT NOT NULL,
    merchant_reference_id TEXT NOT NULL,
    amount                BIGINT NOT NULL,
    currency              TEXT NOT NULL,
    status                TEXT NOT NULL,
    reason                TEXT,
    metadata              TEXT,
    connector             TEXT NOT NULL,
    connector_account     TEXT NOT NULL,
    connector_refund_id   TEXT,
    error                 TEXT,
    created_at            BIGINT NOT NULL,
    modified_at           BIGINT NOT NULL
);

CREATE UNIQUE INDEX refunds_reference ON refunds (merchant_id, profile_id, merchant_reference_id);
CREATE INDEX refunds_payment ON refunds (payment_id);
