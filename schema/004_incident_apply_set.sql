-- 004_incident_apply_set.sql: apply incident revisions once per statement.
--
-- 003 kept `incidents` and `incident_members` current with a row trigger:
-- for every revision, one upsert of its incident and a delete and re-insert
-- of all its members, each a PL/pgSQL call with its own plans (107 us per
-- revision against 35 us without it, docs/bench.md). The store COPYs a
-- batch of revisions in one statement, so the same work is done here once
-- per statement, on the set of rows it inserted (a transition table):
--
--   1. the newest revision of each incident in the statement (the others
--      would be overwritten within the same transaction anyway);
--   2. one upsert of `incidents`: a stored revision as new or newer wins,
--      as before (a replayed older revision changes nothing);
--   3. for exactly the incidents it moved, their members from its JSON body
--      (the first entry of an asset listed twice, as before) upserted, and
--      written only where they differ: an incident's members mostly stay
--      as they were from one revision to the next, and a row left alone
--      costs no new version, no index entries and no foreign-key check;
--   4. the members those incidents no longer list, deleted.
--
-- The outcome is the one of 003 applied row by row, whatever the order of
-- the rows in the statement: each incident ends at the newest of its
-- stored and new revisions, with that revision's members. A data error in
-- a body (say, a bad `opened`) fails the statement as it failed the row
-- before: the store then narrows its batch down to the record and
-- quarantines it.

DROP TRIGGER incident_revisions_apply ON incident_revisions;
DROP FUNCTION incident_revision_applied();

-- jit off: the planner's guess for the JSON expansion below passes
-- jit_above_cost for a few thousand rows, and compiling took longer (45 ms
-- per batch) than running the statement.
CREATE FUNCTION incident_revisions_applied() RETURNS trigger LANGUAGE plpgsql
SET jit = off AS $$
BEGIN
    -- The newest revision of each incident, by hashing the keys: sorting
    -- the rows would sort their bodies too (and spill to disk).
    WITH newest AS (
        SELECT n.*
        FROM new_revisions n
        JOIN (SELECT stream, incident, max(rev) AS rev
              FROM new_revisions GROUP BY stream, incident) AS top
          USING (stream, incident, rev)
    ), applied AS (
        INSERT INTO incidents AS i (stream, incident, rev, msg, status, cause, priority, title,
                                    area, root_asset, opened, updated, merged_into, body)
        SELECT stream, incident, rev, msg, body->>'status', body->>'cause', priority,
               body->>'title', area, body->'root'->>'asset', (body->>'opened')::timestamptz,
               updated, body->>'merged_into', body
        FROM newest
        ON CONFLICT (stream, incident) DO UPDATE
            SET rev = EXCLUDED.rev, msg = EXCLUDED.msg, status = EXCLUDED.status,
                cause = EXCLUDED.cause, priority = EXCLUDED.priority, title = EXCLUDED.title,
                area = EXCLUDED.area, root_asset = EXCLUDED.root_asset,
                opened = EXCLUDED.opened, updated = EXCLUDED.updated,
                merged_into = EXCLUDED.merged_into, body = EXCLUDED.body
            WHERE i.rev < EXCLUDED.rev
        RETURNING i.stream, i.incident, i.body
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

    -- Members the incidents moved above no longer list. An incident moved
    -- iff it now holds the newest revision of this statement: the same
    -- revision cannot have been stored before (UNIQUE (stream, incident,
    -- rev) of incident_revisions).
    DELETE FROM incident_members m
    USING (SELECT stream, incident, max(rev) AS rev
           FROM new_revisions GROUP BY stream, incident) AS n,
          incidents i
    WHERE i.stream = n.stream AND i.incident = n.incident AND i.rev = n.rev
      AND m.stream = n.stream AND m.incident = n.incident
      AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(i.body->'affected') AS a
                      WHERE a->>'asset' = m.asset);
    RETURN NULL;
END $$;

CREATE TRIGGER incident_revisions_apply AFTER INSERT ON incident_revisions
    REFERENCING NEW TABLE AS new_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION incident_revisions_applied();
