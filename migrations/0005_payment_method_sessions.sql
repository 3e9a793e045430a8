-- Payment-method sessions: a customer saving a card from client-side code, by the session's
-- client secret, until the session expires. The methods saved through it are listed as JSON.

CREATE TABLE payment_method_sessions (
    id                   TEXT PRIMARY KEY,
    merchant_id          TEXT NOT NULL,
    profile_id           TEXT NOT NULL,
    customer_id          TEXT NOT NULL,
    client_secret        TEXT NOT NULL,
    expires_at           BIGINT NOT NULL,
    storage_type         TEXT NOT NULL,
    billing              TEXT,
    return_url           TEXT,
    psp_tokenization     TEXT,
    keep_alive           BIGINT NOT NULL,
    payment_method_ids   TEXT NOT NULL,
    created_at           BIGINT NOT NULL
);
