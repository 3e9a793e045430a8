-- Customers: the people a merchant's payments and saved payment methods belong to. A customer
-- is the merchant's, not one profile's. Addresses and metadata are JSON documents (TEXT).

CREATE TABLE customers (
    id                       TEXT PRIMARY KEY,
    merchant_id              TEXT NOT NULL,
    merchant_reference_id    TEXT NOT NULL,
    name                     TEXT NOT NULL,
    email                    TEXT NOT NULL,
    phone                    TEXT,
    phone_country_code       TEXT,
    description              TEXT,
    tax_registration_id      TEXT,
    default_billing_address  TEXT,
    default_shipping_address TEXT,
    metadata                 TEXT,
    created_at               BIGINT NOT NULL,
    modified_at              BIGINT NOT NULL
);

-- A merchant's reference names one customer; the database, not the caller, enforces it.
CREATE UNIQUE INDEX customers_reference ON customers (merchant_id, merchant_reference_id);

-- Listing pages through a merchant's customers newest first.
CREATE INDEX customers_by_merchant ON customers (merchant_id, created_at);
