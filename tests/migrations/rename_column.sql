-- UNSAFE, for tests only: the one-step version of migrations/0002-0005.
-- The release a rollback returns to still reads and writes `notes`: it fails on every order.
BEGIN;
SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '30s';

ALTER TABLE orders RENAME COLUMN notes TO delivery_instructions;

COMMIT;
