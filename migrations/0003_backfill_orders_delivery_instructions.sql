-- Release 1.2, backfill: copy `notes` into `delivery_instructions` for rows written before 1.1.
-- It runs one release after 0002 because 1.0 kept writing `notes` alone while CodeDeploy shifted
-- traffic to 1.1 (and again after any rollback to 1.0); once 1.1 is the only writer, every new row
-- has both columns. Idempotent: only rows still missing the new value are touched.
-- Batches of 5000 ids, each committed on its own, so no transaction holds row locks for long.
-- The DO block is one statement: statement_timeout bounds the whole backfill, lock_timeout each wait.
-- A COMMIT inside DO needs the file to run outside a transaction block, like 0004.
SET lock_timeout = '2s';
SET statement_timeout = '15min';

DO $$
DECLARE
    batch_size constant bigint := 5000;
    last_id bigint;
    batch_start bigint := 0;
BEGIN
    SELECT coalesce(max(id), 0) INTO last_id FROM orders;
    WHILE batch_start < last_id LOOP
        UPDATE orders
        SET delivery_instructions = notes
        WHERE id > batch_start
          AND id <= batch_start + batch_size
          AND delivery_instructions IS NULL
          AND notes IS NOT NULL;
        batch_start := batch_start + batch_size;
        COMMIT;
    END LOOP;
END
$$;
