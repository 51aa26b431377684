-- UNSAFE, for tests only: a NOT NULL column without a default. It fails on a table that has rows,
-- and after a rollback every INSERT of the previous release, which does not know the column, fails.
SET lock_timeout = '2s';
SET statement_timeout = '30s';

ALTER TABLE orders ADD COLUMN IF NOT EXISTS shipping_method text NOT NULL;
