-- 010_incident_heads.sql: the current state of an incident points at its
-- newest revision instead of copying it.
--
-- Before this, every revision the store applied rewrote its incident's row in
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
-- derived state is deleted from `incident_heads` (the members, a view too,
-- follow).
--
-- `incident_members` becomes a view the same way: one row per asset its
-- newest revision lists under `affected` (the first entry of an asset listed
-- twice), with the path, rule and window of its `explain` entry, as the
-- trigger of 004 wrote them. The trigger kept them with an upsert and a
-- delete per revision (most of what was left of the revisions' cost). What
-- the table had and the view has not: the index on (event_source,
-- event_id): finding the incident of an event now reads every current
-- incident (or search `incident_revisions`, as tests/bench/engine_bench.c
-- does, incrementally).
--
-- What PostgreSQL refused in a body before (a bad timestamp or boolean in a
-- member, say) it still refuses when the revision is stored, so that the
-- store quarantines that record and a view never meets it: the trigger
-- casts those fields of every revision that becomes current.

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

DROP TABLE incident_members;
DROP TABLE incidents;

CREATE VIEW incidents AS
    SELECT h.stream, h.incident, h.rev, r.msg, r.body->>'status' AS status,
           r.body->>'cause' AS cause, r.priority, r.body->>'title' AS title, r.area,
           r.body->'root'->>'asset' AS root_asset, h.opened, r.updated,
           r.body->>'merged_into' AS merged_into, r.body
    FROM incident_heads h JOIN incident_revisions r ON r.journal_offset = h.journal_offset;

CREATE VIEW incident_members AS
    SELECT DISTINCT ON (h.stream, h.incident, a.v->>'asset')
           h.stream, h.incident, a.v->>'asset' AS asset, a.v->>'sector' AS sector,
           a.v->>'state' AS state, (a.v->>'time')::timestamptz AS time,
           a.v->'event'->>'source' AS event_source, a.v->'event'->>'id' AS event_id,
           (a.v->>'late')::boolean AS late, ex.e->>'rule' AS rule,
           ARRAY(SELECT jsonb_array_elements_text(ex.e->'path')) AS path,
           (ex.e->'window'->>0)::timestamptz AS window_lo,
           (ex.e->'window'->>1)::timestamptz AS window_hi
    FROM incident_heads h
    JOIN incident_revisions r ON r.journal_offset = h.journal_offset
    CROSS JOIN LATERAL jsonb_array_elements(r.body->'affected') WITH ORDINALITY AS a(v, k)
    LEFT JOIN LATERAL (
        SELECT x FROM jsonb_array_elements(r.body->'explain') AS x
        WHERE x->>'asset' = a.v->>'asset' LIMIT 1) AS ex(e) ON true
    ORDER BY h.stream, h.incident, a.v->>'asset', a.k;

-- Replaces 004's: per statement, the newest revision of each incident in it
-- becomes the head where it is newer than the stored one (a replayed older
-- revision changes nothing); nothing else is written.
CREATE OR REPLACE FUNCTION incident_revisions_applied() RETURNS trigger LANGUAGE plpgsql
SET jit = off AS $$
BEGIN
    WITH newest AS (
        SELECT n.stream, n.incident, n.rev, n.journal_offset, n.body
        FROM new_revisions n
        JOIN (SELECT stream, incident, max(rev) AS rev
              FROM new_revisions GROUP BY stream, incident) AS top
          USING (stream, incident, rev)
    )
    INSERT INTO incident_heads AS h (stream, incident, rev, journal_offset, opened)
    SELECT stream, incident, rev, journal_offset, (body->>'opened')::timestamptz
    FROM newest
    -- The casts of the view incident_members, all evaluated (num_nulls takes
    -- every argument; it is never negative): they fail here on bad data.
    WHERE NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(body->'affected') AS a
        WHERE num_nulls((a->>'time')::timestamptz, (a->>'late')::boolean) < 0)
      AND NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(body->'explain') AS x
        WHERE num_nulls((x->'window'->>0)::timestamptz, (x->'window'->>1)::timestamptz) < 0)
    ON CONFLICT (stream, incident) DO UPDATE
        SET rev = EXCLUDED.rev, journal_offset = EXCLUDED.journal_offset,
            opened = EXCLUDED.opened
        WHERE h.rev < EXCLUDED.rev;
    RETURN NULL;
END $$;
