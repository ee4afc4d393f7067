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
--   2. the members of those incidents that are about to move to a newer
--      revision are deleted;
--   3. one upsert of `incidents` (a stored revision as new or newer wins,
--      as before: a replayed older revision changes nothing), and the
--      members of exactly the incidents it changed, from its JSON body.
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
    -- Members of incidents that this statement moves to a newer revision.
    -- Incidents not yet in `incidents` have none (foreign key).
    DELETE FROM incident_members m
    USING (SELECT n.stream, n.incident, max(n.rev) AS rev
           FROM new_revisions n GROUP BY n.stream, n.incident) AS n,
          incidents i
    WHERE i.stream = n.stream AND i.incident = n.incident AND i.rev < n.rev
      AND m.stream = n.stream AND m.incident = n.incident;

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
    )
    INSERT INTO incident_members (stream, incident, asset, sector, state, time, event_source,
                                  event_id, late, rule, path, window_lo, window_hi)
    SELECT ap.stream, ap.incident, a->>'asset', a->>'sector', a->>'state',
           (a->>'time')::timestamptz, a->'event'->>'source', a->'event'->>'id',
           (a->>'late')::boolean, e->>'rule',
           ARRAY(SELECT jsonb_array_elements_text(e->'path')),
           (e->'window'->>0)::timestamptz, (e->'window'->>1)::timestamptz
    FROM applied AS ap
    CROSS JOIN LATERAL jsonb_array_elements(ap.body->'affected') AS a
    LEFT JOIN LATERAL (
        SELECT x FROM jsonb_array_elements(ap.body->'explain') AS x
        WHERE x->>'asset' = a->>'asset' LIMIT 1) AS ex(e) ON true
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER incident_revisions_apply AFTER INSERT ON incident_revisions
    REFERENCING NEW TABLE AS new_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION incident_revisions_applied();
