-- Saved payment methods of a merchant's customers. What may be shown of a card (network, last
-- four digits, expiry) is a JSON document here; the card itself is sealed in `vault`, one row per
-- payment method, with AES-256-GCM under a key that is never stored. Nonces and ciphertexts are
-- base64 text, which both databases store alike.

CREATE TABLE payment_methods (
    id                     TEXT PRIMARY KEY,
    merchant_id            TEXT NOT NULL,
    customer_id            TEXT NOT NULL,
    status                 TEXT NOT NULL,
    payment_method_type    TEXT,
    payment_method_subtype TEXT,
    storage_type           TEXT NOT NULL,
    card                   TEXT,
    billing                TEXT,
    metadata               TEXT,
    connector_tokens       TEXT,
    created_at             BIGINT NOT NULL,
    modified_at            BIGINT NOT NULL,
    last_used_at           BIGINT
);

-- A customer's saved methods, newest first.
CREATE INDEX payment_methods_by_customer ON payment_methods (merchant_id, customer_id, created_at);

CREATE TABLE vault (
    payment_method_id TEXT PRIMARY KEY,
    nonce             TEXT NOT NULL,
    ciphertext        TEXT NOT NULL
);

-- One row: a known text sealed with the vault key, so a daemon started with another key refuses
-- to start instead of failing on every saved card.
CREATE TABLE vault_key_check (
    id         INTEGER PRIMARY KEY,
    nonce      TEXT NOT NULL,
    ciphertext TEXT NOT NULL
);
