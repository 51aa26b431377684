-- Release 1.1, expand: a nullable column the previous release (1.0) does not know about.
-- 1.1 writes both `notes` and `delivery_instructions` and still reads `notes`,
-- so traffic can go back to 1.0 at any point of the release.
SET lock_timeout = '2s';
SET statement_timeout = '30s';

ALTER TABLE orders ADD COLUMN IF NOT EXISTS delivery_instructions text;
