-- The saved payment method a customer pays with unless told otherwise.
ALTER TABLE customers ADD COLUMN default_payment_method_id TEXT;
