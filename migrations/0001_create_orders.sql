-- Release 1.0: the orders table.
-- `notes` holds what the customer typed at checkout; it is replaced by `delivery_instructions`
-- in 0002-0005, the expand/contract way (a one-step rename would break the release we roll back to).
SET lock_timeout = '2s';
SET statement_timeout = '30s';

CREATE TABLE IF NOT EXISTS orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    total_cents bigint NOT NULL,
    currency text NOT NULL DEFAULT 'EUR',
    notes text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
