-- 002_assets.sql: the asset registry (design §2): assets, the dependencies
-- between them, and a generation number a running tocsind watches.
-- Applied by `tocsin db migrate`, which records it in schema_migrations.
--
-- `tocsin assets import` replaces the whole registry in one transaction.
-- The checks repeat the rules of tocsin/graph.h, so that no row edited by
-- hand can make a registry the server would refuse to load.

-- One row of assets.csv. ord is the row's position in the imported file:
-- the server numbers assets in that order, so a registry loaded from here
-- numbers its assets exactly as one loaded from the files (design §4.9).
CREATE TABLE assets (
    id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    sector       text NOT NULL CHECK (sector IN ('chemicals', 'civil-nuclear', 'communications',
                     'defence', 'emergency-services', 'energy', 'finance', 'food', 'government',
                     'health', 'space', 'transport', 'water', 'data')),
    kind         text NOT NULL CHECK (octet_length(kind) BETWEEN 1 AND 64
                                      AND kind !~ '[\x01-\x1f\x7f]'),
    name         text NOT NULL CHECK (octet_length(name) <= 256 AND name !~ '[\x01-\x1f\x7f]'),
    lat          double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon          double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    area         text NOT NULL CHECK (area ~ '^[A-Za-z0-9._:-]{1,64}$'),
    criticality  smallint NOT NULL CHECK (criticality BETWEEN 1 AND 5),
    population   bigint NOT NULL CHECK (population >= 0),
    backup_s     integer NOT NULL CHECK (backup_s >= 0),
    sensitivity  text NOT NULL CHECK (sensitivity IN ('public', 'official', 'official-sensitive')),
    ord          integer NOT NULL UNIQUE CHECK (ord >= 0)
);

-- One row of dependencies.csv: `dependent` fails some time after `provider`
-- does. NULL delays are derived from the dependent's backup_s when the graph
-- is built (TN_GRAPH_DERIVED_SPREAD_S), so they follow a later change of it.
-- Cycles are allowed; self-loops are not. Deleting an asset deletes its edges.
CREATE TABLE dependencies (
    dependent    text NOT NULL REFERENCES assets (id) ON UPDATE CASCADE ON DELETE CASCADE,
    provider     text NOT NULL REFERENCES assets (id) ON UPDATE CASCADE ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('power', 'water', 'communications', 'transport',
                     'fuel', 'gas', 'data', 'staff', 'other')),
    delay_min_s  integer CHECK (delay_min_s >= 0),
    delay_max_s  integer CHECK (delay_max_s >= delay_min_s),
    ord          integer NOT NULL UNIQUE CHECK (ord >= 0),
    PRIMARY KEY (dependent, provider, kind),
    CHECK (dependent <> provider),
    CHECK ((delay_min_s IS NULL) = (delay_max_s IS NULL))
);
-- The primary key serves lookups by dependent; this one by provider (and the
-- cascade when an asset is deleted).
CREATE INDEX dependencies_provider ON dependencies (provider);

-- Bumped once by every transaction that changes assets or dependencies
-- (an import, or an edit by hand), which also notifies channel
-- tocsin_assets with the new generation as payload. A server LISTENs, then
-- reloads the registry and reads the generation in the same snapshot.
-- An import rebuilds both tables (TRUNCATE, COPY, keys) under an ACCESS
-- EXCLUSIVE lock, and TRUNCATE is not MVCC-safe: a REPEATABLE READ reader
-- takes its locks before its snapshot (LOCK TABLE registry_generation,
-- assets, dependencies IN ACCESS SHARE MODE as its first statement).
CREATE TABLE registry_generation (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    generation  bigint NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    xact        xid8 -- the transaction that made `generation`
);
INSERT INTO registry_generation (one, generation) VALUES (true, 0);

CREATE FUNCTION registry_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    g bigint;
BEGIN
    -- once per transaction, however many statements it runs
    UPDATE registry_generation
       SET generation = generation + 1, changed_at = now(), xact = pg_current_xact_id()
     WHERE xact IS DISTINCT FROM pg_current_xact_id()
    RETURNING generation INTO g;
    IF FOUND THEN
        PERFORM pg_notify('tocsin_assets', g::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER assets_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON assets
    FOR EACH STATEMENT EXECUTE FUNCTION registry_generation_bump();
CREATE TRIGGER dependencies_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON dependencies FOR EACH STATEMENT EXECUTE FUNCTION registry_generation_bump();
