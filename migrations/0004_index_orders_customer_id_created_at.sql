-- Release 1.2, expand: the index behind 1.2's order history page (a customer's orders, newest first).
-- CONCURRENTLY: writes keep flowing while it builds, and it cannot run inside a transaction block.
-- If a build fails half way, Postgres leaves an INVALID index that IF NOT EXISTS would skip:
-- drop it with DROP INDEX CONCURRENTLY IF EXISTS orders_customer_id_created_at_idx and rerun.
SET lock_timeout = '2s';
SET statement_timeout = '30min';

CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_created_at_idx
ON orders (customer_id, created_at DESC);
