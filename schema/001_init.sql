-- 001_init.sql: adapters, events, rejected input, store progress, audit.
-- Applied by `tocsin db migrate`, which records it in schema_migrations.

-- Adapter keys and what each may speak for (design §3, §7). A revoked key is
-- kept, with revoked_at set, so that the audit trail can still name it.
CREATE TABLE adapters (
    name            text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    public_key      text NOT NULL CHECK (length(public_key) = 40),
    sectors         text[] NOT NULL CHECK (cardinality(sectors) > 0),
    asset_prefixes  text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
-- One live registration per key.
CREATE UNIQUE INDEX adapters_live_key ON adapters (public_key) WHERE revoked_at IS NULL;

-- Bumped on every change of adapters, so tocsind can poll one number.
CREATE TABLE registry_version (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    version  bigint NOT NULL
);
INSERT INTO registry_version VALUES (true, 1);

CREATE FUNCTION registry_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE registry_version SET version = version + 1;
    PERFORM pg_notify('tocsin_registry', '');
    RETURN NULL;
END $$;
CREATE TRIGGER adapters_bump AFTER INSERT OR UPDATE OR DELETE ON adapters
    FOR EACH STATEMENT EXECUTE FUNCTION registry_bump();

-- Every accepted event, exactly once (source, id). journal_offset is where
-- the event sits in the journal; the store commits it with the row.
CREATE TABLE events (
    journal_offset  bigint NOT NULL PRIMARY KEY,
    source          text NOT NULL,
    id              text NOT NULL,
    adapter         text NOT NULL,
    type            text NOT NULL,
    sector          text,
    asset           text,
    severity        smallint NOT NULL CHECK (severity BETWEEN 1 AND 5),
    time            timestamptz NOT NULL,
    received        timestamptz NOT NULL,
    summary         text,
    lat             double precision,
    lon             double precision,
    attrs           jsonb,
    UNIQUE (source, id)
);
CREATE INDEX events_time ON events (time);
CREATE INDEX events_asset_time ON events (asset, time);

-- Input refused with an error code, kept (bounded in size) for inspection.
CREATE TABLE rejected (
    journal_offset  bigint NOT NULL PRIMARY KEY,
    received        timestamptz NOT NULL,
    adapter         text,
    code            text NOT NULL,
    msg             text NOT NULL,
    item            integer,
    event_id        text,
    raw             bytea,
    raw_truncated   boolean NOT NULL DEFAULT false
);
CREATE INDEX rejected_received ON rejected (received);

-- How far the store has tailed each journal stream.
CREATE TABLE store_progress (
    stream          text PRIMARY KEY,
    journal_offset  bigint NOT NULL
);
INSERT INTO store_progress VALUES ('journal', 0);

-- Every security decision: who, what, when, from where.
CREATE TABLE audit (
    seq     bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    subject text,
    origin  text,
    detail  jsonb
);
CREATE INDEX audit_at ON audit (at);
