-- UNSAFE, for tests only: release 1.2 drops `notes`, but 1.1, the release a rollback returns to,
-- still reads it. No reviewed suppression, so the gate must stop it.
SET lock_timeout = '2s';
SET statement_timeout = '30s';

ALTER TABLE orders DROP COLUMN IF EXISTS notes;
