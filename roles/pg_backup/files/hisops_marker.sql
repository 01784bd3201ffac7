-- hisops backup marker: what the database held just before a backup, so a restore drill can
-- prove the restored copy is this database at that moment (see pg_restore_verify).
CREATE SCHEMA IF NOT EXISTS hisops;

CREATE TABLE IF NOT EXISTS hisops.backup_marker (
    marker      text PRIMARY KEY,
    written_at  timestamptz NOT NULL DEFAULT now(),
    tables      jsonb NOT NULL
);

-- Row count and an order-independent content fingerprint of every user table: the sum of a
-- 64-bit hash of each row's text form. Output settings are pinned so that the same rows give
-- the same text on any server.
CREATE OR REPLACE FUNCTION hisops.table_fingerprints()
RETURNS TABLE (table_name text, row_count bigint, fingerprint text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET timezone = 'UTC'
SET extra_float_digits = 3
SET bytea_output = 'hex'
AS $$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN
        SELECT c.oid::regclass
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND NOT c.relispartition IS TRUE
          AND n.nspname NOT IN ('information_schema', 'hisops')
          AND n.nspname NOT LIKE 'pg\_%'
        ORDER BY c.oid::regclass::text
    LOOP
        table_name := rel::text;
        EXECUTE format('SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text '
                       'FROM %s t', rel)
            INTO row_count, fingerprint;
        RETURN NEXT;
    END LOOP;
END
$$;
