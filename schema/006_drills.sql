-- 006_drills.sql: drills run by a server beside live work (design §6;
-- docs/drills.md): planner keys, and one row per drill ever started.
-- Applied by `tocsin db migrate`, which records it in schema_migrations.

-- A planner's key is a third kind of key tocsind admits, beside adapters and
-- consoles: on the console endpoints (its drill's alerts, `since` and
-- `snapshot`), and it alone may start, feed and stop a drill. It is kept
-- apart from the console kind so that an operator's console key can never
-- run a drill, nor a planner's acknowledge a live alert.
ALTER TABLE adapters DROP CONSTRAINT adapters_kind_check;
ALTER TABLE adapters ADD CONSTRAINT adapters_kind_check
    CHECK (kind IN ('adapter', 'console', 'planner'));
ALTER TABLE adapters DROP CONSTRAINT adapters_kind_scope;
ALTER TABLE adapters ADD CONSTRAINT adapters_kind_scope CHECK (
    (kind = 'adapter' AND cardinality(sectors) > 0 AND clearance IS NULL)
    OR (kind IN ('console', 'planner') AND cardinality(sectors) = 0
        AND cardinality(asset_prefixes) = 0 AND clearance IS NOT NULL));

-- Every drill a server has started. The name is the drill's stream: its
-- incidents are stored under it (incident_revisions.stream), its alerts go
-- to `drill/<name>/...`. A name is used once, ever, so that a drill's
-- incidents are never mixed with another's: the server inserts the row
-- before it journals the start, and a name already here is refused.
CREATE TABLE drills (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$' AND name <> 'live'),
    planner     text NOT NULL,              -- the planner key's registered name
    started_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at  timestamptz
);
