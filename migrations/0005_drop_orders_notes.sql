-- Release 1.4, contract: drop `notes`.
-- Nothing has read orders.notes since release 1.2 (it reads `delivery_instructions`) and nothing has
-- written it since release 1.3, the release a rollback of 1.4 returns to.
-- Reviewed: ban-drop-column is suppressed for this statement only.
SET lock_timeout = '2s';
SET statement_timeout = '30s';

-- squawk-ignore ban-drop-column
ALTER TABLE orders DROP COLUMN IF EXISTS notes;
