-- 009_keys.sql: keys over time (design §7; docs/security.md "Keys over
-- time"): expiry, rotation with a grace period; and the audit trail's view
-- of refused input.
-- Applied by `tocsin db migrate` as tocsin_owner (schema/007_roles.sql).

-- A key's expiry (NULL: none), for every kind of key (adapters, consoles,
-- planners share the table). tocsind refuses a key past it, at the
-- handshake and on live connections, like a revoked one.
--
-- Rotation (`tocsin adapter rotate NAME --key NEW.pub --grace D`): the row
-- takes the new key, and keeps the old one in prev_key, admitted (with the
-- same scopes, clearance and rate limit) until prev_key_until, then never
-- again. Only the newest old key is kept here; every one is in the audit
-- trail (adapter.rotate, detail old_key), which `tocsin adapter add` and
-- `rotate` read so that a retired key never comes back.
ALTER TABLE adapters
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN prev_key text CHECK (length(prev_key) = 40),
    ADD COLUMN prev_key_until timestamptz,
    ADD CONSTRAINT adapters_prev_key_pair CHECK ((prev_key IS NULL) = (prev_key_until IS NULL)),
    ADD CONSTRAINT adapters_prev_key_differs CHECK (prev_key IS DISTINCT FROM public_key);
-- One row per old key: a rotation to a key that is some row's old key is
-- refused by the CLI; this makes a race of two CLIs fail too.
CREATE UNIQUE INDEX adapters_prev_key ON adapters (prev_key) WHERE prev_key IS NOT NULL;
-- tocsin_admin already has INSERT, UPDATE on adapters (007): the new columns
-- are covered; tocsind and consoles read them (SELECT, 007).

-- Where refused input came from: the peer's address (tocsind since 009;
-- NULL for older rows and for E_CORRUPT records).
ALTER TABLE rejected ADD COLUMN origin text;
-- tocsin_server has INSERT on rejected (the whole table, 007): covered.

-- The audit trail as `tocsin audit` reads it: the audit table, and each
-- refused event or frame kept in `rejected` (bounded by tocsind: 200 a
-- second in all, 5 a second per key for E_RATE) as action
-- 'ingest.rejected', actor the adapter that sent it, subject the event id,
-- detail the code, message, item and journal offset. Not a copy: one place
-- per fact, bounded where the input is bounded.
CREATE VIEW audit_trail AS
    SELECT seq, at, actor, action, subject, origin, detail, db_role
    FROM audit
    UNION ALL
    SELECT NULL::bigint, received, coalesce(adapter, '-'), 'ingest.rejected', event_id, origin,
           jsonb_strip_nulls(jsonb_build_object('code', code, 'msg', msg, 'item', item,
                                                'journal_offset', journal_offset,
                                                'raw_truncated', raw_truncated)),
           'tocsin_server'
    FROM rejected;
-- Like the audit table: the operator's (tocsin_admin) only.
REVOKE SELECT ON audit_trail FROM tocsin_server, tocsin_console;
