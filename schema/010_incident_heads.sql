-- 010_incident_heads.sql: the current state of an incident points at its
-- newest revision instead of copying it.
--
-- Until 009, every revision the store applied rewrote its incident's row in
-- `incidents`: about 1 KiB with the JSON body, a new row version, new index
-- entries (docs/bench.md, "What limits"). The body is already stored once,
-- in `incident_revisions`. Now the table the trigger upserts,
-- `incident_heads`, holds only the incident's key, its newest revision's
-- number and journal offset (the key of that revision's row), and `opened`
-- (cast once here, so that a bad timestamp in a body fails the store's
-- statement, and the store quarantines that record, as before, instead of
-- failing every later read). Its rows are narrow, only its primary key is
-- indexed and neither key column ever changes, so an update is a HOT update
-- when the page has room (fillfactor).
--
-- `incidents` becomes a view with the same columns as the table it
-- replaces, read from the head and its revision: readers (`SELECT ... FROM
-- incidents`, its body included) see what they saw. It cannot be written:
-- derived state is deleted from `incident_heads` (its members follow, ON
-- DELETE CASCADE).
--
-- `incident_members` stays a table (an event's incident is found by its
-- index on (event_source, event_id)), kept by the same trigger as in 004.

CREATE TABLE incident_heads (
    stream          text NOT NULL,
    incident        text NOT NULL,
    rev             integer NOT NULL,
    journal_offset  bigint NOT NULL,        -- its row in incident_revisions
    opened          timestamptz,
    PRIMARY KEY (stream, incident)
) WITH (fillfactor = 50);
-- Derived state, kept by the trigger below with the store's rights (007).
GRANT INSERT, UPDATE, DELETE ON incident_heads TO tocsin_server;

INSERT INTO incident_heads (stream, incident, rev, journal_offset, opened)
SELECT i.stream, i.incident, i.rev, r.journal_offset, i.opened
FROM incidents i JOIN incident_revisions r USING (stream, incident, rev);

ALTER TABLE incident_members DROP CONSTRAINT incident_members_stream_incident_fkey;
ALTER TABLE incident_members ADD CONSTRAINT incident_members_stream_incident_fkey
    FOREIGN KEY (stream, incident) REFERENCES incident_heads ON DELETE CASCADE;
DROP TABLE incidents;

CREATE VIEW incidents AS
    SELECT h.stream, h.incident, h.rev, r.msg, r.body->>'status' AS status,
           r.body->>'cause' AS cause, r.priority, r.body->>'title' AS title, r.area,
           r.body->'root'->>'asset' AS root_asset, h.opened, r.updated,
           r.body->>'merged_into' AS merged_into, r.body
    FROM incident_heads h JOIN incident_revisions r ON r.journal_offset = h.journal_offset;

-- As in 004, with `incident_heads` for `incidents`: per statement, the
-- newest revision of each incident in it; the head moved where it is newer
-- than the stored one; the members of the incidents moved, from the body of
-- the revision they moved to, written only where they differ; and the
-- members those incidents no longer list, deleted (in the same statement:
-- its DELETE sees the members as they were before it, and never a row its
-- INSERT writes, which are all listed).
CREATE OR REPLACE FUNCTION incident_revisions_applied() RETURNS trigger LANGUAGE plpgsql
SET jit = off AS $$
BEGIN
    WITH newest AS (
        SELECT n.stream, n.incident, n.rev, n.journal_offset, n.body
        FROM new_revisions n
        JOIN (SELECT stream, incident, max(rev) AS rev
              FROM new_revisions GROUP BY stream, incident) AS top
          USING (stream, incident, rev)
    ), moved AS (
        INSERT INTO incident_heads AS h (stream, incident, rev, journal_offset, opened)
        SELECT stream, incident, rev, journal_offset, (body->>'opened')::timestamptz
        FROM newest
        ON CONFLICT (stream, incident) DO UPDATE
            SET rev = EXCLUDED.rev, journal_offset = EXCLUDED.journal_offset,
                opened = EXCLUDED.opened
            WHERE h.rev < EXCLUDED.rev
        RETURNING h.stream, h.incident, h.journal_offset
    ), applied AS (
        -- The body by the revision's primary key (the rows COPY inserted are
        -- in the table): joining two CTEs here, whose sizes the planner
        -- cannot guess, gave a nested loop over both (5000 x 5000 rows).
        SELECT m.stream, m.incident, r.body
        FROM moved AS m JOIN incident_revisions AS r USING (journal_offset)
    ), listed AS (
        -- One row per asset: its first entry in `affected`.
        SELECT DISTINCT ON (ap.stream, ap.incident, a.v->>'asset')
               ap.stream, ap.incident, a.v->>'asset' AS asset, a.v->>'sector' AS sector,
               a.v->>'state' AS state, (a.v->>'time')::timestamptz AS time,
               a.v->'event'->>'source' AS event_source, a.v->'event'->>'id' AS event_id,
               (a.v->>'late')::boolean AS late, e->>'rule' AS rule,
               ARRAY(SELECT jsonb_array_elements_text(e->'path')) AS path,
               (e->'window'->>0)::timestamptz AS window_lo,
               (e->'window'->>1)::timestamptz AS window_hi
        FROM applied AS ap
        CROSS JOIN LATERAL jsonb_array_elements(ap.body->'affected') WITH ORDINALITY AS a(v, k)
        LEFT JOIN LATERAL (
            SELECT x FROM jsonb_array_elements(ap.body->'explain') AS x
            WHERE x->>'asset' = a.v->>'asset' LIMIT 1) AS ex(e) ON true
        ORDER BY ap.stream, ap.incident, a.v->>'asset', a.k
    ), unlisted AS (
        DELETE FROM incident_members AS m
        USING applied AS ap
        WHERE m.stream = ap.stream AND m.incident = ap.incident
          AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(ap.body->'affected') AS a
                          WHERE a->>'asset' = m.asset)
    )
    INSERT INTO incident_members AS m (stream, incident, asset, sector, state, time,
                                       event_source, event_id, late, rule, path, window_lo,
                                       window_hi)
    -- Rows already as listed are left out here, not by the ON CONFLICT
    -- filter below: that one locks the row it spares (a write, and WAL).
    SELECT l.* FROM listed AS l
    WHERE NOT EXISTS (
        SELECT 1 FROM incident_members AS o
        WHERE o.stream = l.stream AND o.incident = l.incident AND o.asset = l.asset
          AND (o.sector, o.state, o.time, o.event_source, o.event_id, o.late, o.rule, o.path,
               o.window_lo, o.window_hi)
              IS NOT DISTINCT FROM
              (l.sector, l.state, l.time, l.event_source, l.event_id, l.late, l.rule, l.path,
               l.window_lo, l.window_hi))
    ON CONFLICT (stream, incident, asset) DO UPDATE
        SET sector = EXCLUDED.sector, state = EXCLUDED.state, time = EXCLUDED.time,
            event_source = EXCLUDED.event_source, event_id = EXCLUDED.event_id,
            late = EXCLUDED.late, rule = EXCLUDED.rule, path = EXCLUDED.path,
            window_lo = EXCLUDED.window_lo, window_hi = EXCLUDED.window_hi
        WHERE (m.sector, m.state, m.time, m.event_source, m.event_id, m.late, m.rule, m.path,
               m.window_lo, m.window_hi)
              IS DISTINCT FROM
              (EXCLUDED.sector, EXCLUDED.state, EXCLUDED.time, EXCLUDED.event_source,
               EXCLUDED.event_id, EXCLUDED.late, EXCLUDED.rule, EXCLUDED.path,
               EXCLUDED.window_lo, EXCLUDED.window_hi);
    RETURN NULL;
END $$;
