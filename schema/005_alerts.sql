-- 005_alerts.sql: alerts to control rooms (design §3.2, §3.3): console keys,
-- every alert with its seq, and acknowledgements.
-- Applied by `tocsin db migrate`, which records it in schema_migrations.

-- Console keys live beside adapter keys, in one table of the keys tocsind
-- admits, told apart by kind: one live registration per key across both
-- kinds (an adapter's key can never be a console's, nor the reverse), the
-- same rule that a revoked key never comes back, and the same
-- registry_version trigger, so a revoked console is refused without a
-- restart. A console has no sectors; its clearance says which alerts it may
-- receive (redaction by clearance is not implemented yet: every console
-- receives every live alert).
ALTER TABLE adapters
    ADD COLUMN kind text NOT NULL DEFAULT 'adapter' CHECK (kind IN ('adapter', 'console')),
    ADD COLUMN clearance text CHECK (clearance IN ('public', 'official', 'official-sensitive'));
ALTER TABLE adapters DROP CONSTRAINT adapters_sectors_check;
ALTER TABLE adapters ADD CONSTRAINT adapters_kind_scope CHECK (
    (kind = 'adapter' AND cardinality(sectors) > 0 AND clearance IS NULL)
    OR (kind = 'console' AND cardinality(sectors) = 0 AND cardinality(asset_prefixes) = 0
        AND clearance IS NOT NULL));

-- An alert is an incident revision: the correlator gives each its stream's
-- next seq, the first key of its JSON body, journaled with it. Revisions
-- from before alerts existed have none (NULL here) and were never sent.
ALTER TABLE incident_revisions
    ADD COLUMN seq bigint GENERATED ALWAYS AS ((body->>'seq')::bigint) STORED;
-- Not UNIQUE: a duplicate would be a bug to report, and a constraint would
-- stop the store at it (the journal would keep growing) instead.
CREATE INDEX incident_revisions_seq ON incident_revisions (stream, seq) WHERE seq IS NOT NULL;

-- The alerts as sent, in seq order: what `since` reads when a console asks
-- for alerts older than the server's memory.
CREATE VIEW alerts AS
    SELECT stream, seq, incident, rev, msg, priority, area, updated, body
    FROM incident_revisions WHERE seq IS NOT NULL;

-- Acknowledgements (design §3.3): which operator, on which console, took
-- which revision of an incident. Every one is also an audit row
-- ('alert.ack'), written in the same transaction.
CREATE TABLE alert_acks (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    stream    text NOT NULL,
    incident  text NOT NULL,
    rev       integer NOT NULL CHECK (rev >= 1),
    operator  text NOT NULL CHECK (octet_length(operator) BETWEEN 1 AND 128),
    console   text NOT NULL
);
CREATE INDEX alert_acks_incident ON alert_acks (stream, incident, rev);
