-- 003_incidents.sql: incidents, every revision, members and explanations.
--
-- The store inserts each revision the correlator emits into
-- incident_revisions (exactly once, by journal offset); a trigger keeps the
-- current state of each incident in `incidents` and its members, with the
-- path and window that linked each, in `incident_members`.

CREATE TABLE incident_revisions (
    journal_offset  bigint NOT NULL PRIMARY KEY,
    stream          text NOT NULL,          -- 'live' or a drill name
    incident        text NOT NULL,
    rev             integer NOT NULL CHECK (rev >= 1),
    msg             text NOT NULL CHECK (msg IN ('alert', 'update', 'resolved', 'merged')),
    priority        smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),
    area            text NOT NULL,
    updated         timestamptz NOT NULL,
    body            jsonb NOT NULL,
    UNIQUE (stream, incident, rev)
);
CREATE INDEX incident_revisions_updated ON incident_revisions (updated);

CREATE TABLE incidents (
    stream      text NOT NULL,
    incident    text NOT NULL,
    rev         integer NOT NULL,
    msg         text NOT NULL,
    status      text NOT NULL,
    cause       text NOT NULL,
    priority    smallint NOT NULL,
    title       text NOT NULL,
    area        text NOT NULL,
    root_asset  text,
    opened      timestamptz,
    updated     timestamptz NOT NULL,
    merged_into text,
    body        jsonb NOT NULL,
    PRIMARY KEY (stream, incident)
);
CREATE INDEX incidents_open ON incidents (stream, priority) WHERE msg IN ('alert', 'update');

CREATE TABLE incident_members (
    stream       text NOT NULL,
    incident     text NOT NULL,
    asset        text NOT NULL,
    sector       text,
    state        text,
    time         timestamptz,
    event_source text,
    event_id     text,
    late         boolean,
    rule         text,
    path         text[],
    window_lo    timestamptz,
    window_hi    timestamptz,
    PRIMARY KEY (stream, incident, asset),
    FOREIGN KEY (stream, incident) REFERENCES incidents ON DELETE CASCADE
);
CREATE INDEX incident_members_event ON incident_members (event_source, event_id);

-- Keep `incidents` and `incident_members` at the newest revision. Revisions
-- arrive in order per incident; an older one (a replay) changes nothing.
CREATE FUNCTION incident_revision_applied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incidents AS i (stream, incident, rev, msg, status, cause, priority, title,
                                area, root_asset, opened, updated, merged_into, body)
    VALUES (NEW.stream, NEW.incident, NEW.rev, NEW.msg, NEW.body->>'status',
            NEW.body->>'cause', NEW.priority, NEW.body->>'title', NEW.area,
            NEW.body->'root'->>'asset', (NEW.body->>'opened')::timestamptz, NEW.updated,
            NEW.body->>'merged_into', NEW.body)
    ON CONFLICT (stream, incident) DO UPDATE
        SET rev = EXCLUDED.rev, msg = EXCLUDED.msg, status = EXCLUDED.status,
            cause = EXCLUDED.cause, priority = EXCLUDED.priority, title = EXCLUDED.title,
            area = EXCLUDED.area, root_asset = EXCLUDED.root_asset, opened = EXCLUDED.opened,
            updated = EXCLUDED.updated, merged_into = EXCLUDED.merged_into,
            body = EXCLUDED.body
        WHERE i.rev < EXCLUDED.rev;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    DELETE FROM incident_members WHERE stream = NEW.stream AND incident = NEW.incident;
    INSERT INTO incident_members (stream, incident, asset, sector, state, time, event_source,
                                  event_id, late, rule, path, window_lo, window_hi)
    SELECT NEW.stream, NEW.incident, a->>'asset', a->>'sector', a->>'state',
           (a->>'time')::timestamptz, a->'event'->>'source', a->'event'->>'id',
           (a->>'late')::boolean, e->>'rule',
           ARRAY(SELECT jsonb_array_elements_text(e->'path')),
           (e->'window'->>0)::timestamptz, (e->'window'->>1)::timestamptz
    FROM jsonb_array_elements(NEW.body->'affected') AS a
    LEFT JOIN LATERAL (
        SELECT x FROM jsonb_array_elements(NEW.body->'explain') AS x
        WHERE x->>'asset' = a->>'asset' LIMIT 1) AS ex(e) ON true
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER incident_revisions_apply AFTER INSERT ON incident_revisions
    FOR EACH ROW EXECUTE FUNCTION incident_revision_applied();
