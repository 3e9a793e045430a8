-- Outgoing webhooks. An event is a change of a payment's or refund's status the merchant is told
-- of; it is written in the same transaction as the change, with the exact body that will be sent,
-- and delivered in order per object. Each try to deliver it is kept.

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL,
    profile_id      TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    event_class     TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    body            TEXT NOT NULL,
    -- pending, delivered, or failed (given up on after the last try)
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    -- When it may next be tried; also the lease a daemon takes while it tries.
    next_attempt_at BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE INDEX events_due ON events (status, next_attempt_at);
CREATE INDEX events_object ON events (object_id, created_at);
CREATE INDEX events_profile ON events (merchant_id, profile_id, created_at);

CREATE TABLE event_deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events (id),
    attempt         BIGINT NOT NULL,
    request_headers TEXT NOT NULL,
    status_code     BIGINT,
    response_body   TEXT,
    error_message   TEXT,
    created_at      BIGINT NOT NULL
);

CREATE INDEX event_deliveries_event ON event_deliveries (event_id, attempt);
