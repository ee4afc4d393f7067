-- 007_roles.sql: PostgreSQL roles with least privilege (design §7,
-- docs/security.md "PostgreSQL roles").
-- Applied by `tocsin db migrate`, which records it in schema_migrations.
--
--   tocsin_owner    NOLOGIN. Owns the schema `public` and every object in
--                   it. Only the owner may change the schema or delete
--                   history; nobody logs in as it.
--   tocsin_admin    LOGIN, NOINHERIT member of tocsin_owner: the operator
--                   CLI. On its own it may register and revoke keys and
--                   write audit rows; `tocsin db migrate` and `tocsin assets
--                   import` take the owner's role for one transaction
--                   (SET LOCAL ROLE tocsin_owner), so that schema changes
--                   are owned by tocsin_owner and need this deliberate step.
--   tocsin_server   LOGIN: tocsind. Reads all but the audit trail; appends events,
--                   rejects, audit rows, incident revisions and
--                   acknowledgements; keeps the derived current state
--                   (incidents, incident_members, store_progress). It can
--                   neither change the schema nor delete or rewrite history.
--   tocsin_console  LOGIN: read only (dashboards, `tocsin record`, `tocsin
--                   cap`, reports). Everything but the audit trail.
--
-- Roles belong to the cluster, not to the database: they are created here
-- when missing (without passwords: the administrator sets them, or
-- scripts/pg.sh does for the private cluster) and their attributes checked.
-- Applying this file needs a superuser (or a role with CREATEROLE that owns
-- the objects of 001-006): it creates roles and hands the objects over.
--
-- THE RULE FOR LATER MIGRATIONS. After this file, `tocsin db migrate` runs
-- every migration as tocsin_owner, so a new table is owned by it and gets,
-- by the default privileges below, SELECT for tocsin_server, tocsin_console
-- and tocsin_admin, and nothing else. Whatever else a role needs is granted
-- by the migration that creates the table, next to it:
--
--   GRANT INSERT ON drills TO tocsin_server;               -- history: append only
--   GRANT UPDATE (ended_at) ON drills TO tocsin_server;    -- only if it must
--   GRANT USAGE ON SEQUENCE drills_id_seq TO tocsin_server; -- serial/identity
--   REVOKE SELECT ON secrets FROM tocsin_console;          -- not for consoles
--
-- Never grant UPDATE, DELETE or TRUNCATE of a history table (events, audit,
-- incident_revisions, alert_acks, and any table of the same kind) to anyone.
-- A migration does not SET ROLE itself, and must not contain passwords.

-- ---- roles --------------------------------------------------------------------

DO $$
DECLARE
    want record;
    have record;
BEGIN
    FOR want IN SELECT * FROM (VALUES
            ('tocsin_owner', false), ('tocsin_admin', true), ('tocsin_server', true),
            ('tocsin_console', true)) AS t(name, login) LOOP
        SELECT * INTO have FROM pg_roles WHERE rolname = want.name;
        IF NOT FOUND THEN
            EXECUTE format('CREATE ROLE %I %s NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE '
                           'NOREPLICATION NOBYPASSRLS',
                           want.name, CASE WHEN want.login THEN 'LOGIN' ELSE 'NOLOGIN' END);
            CONTINUE;
        END IF;
        -- Created beforehand (by scripts/pg.sh, or an administrator): a role
        -- with more power than this design gives it is refused, not fixed
        -- silently.
        IF have.rolsuper OR have.rolcreaterole OR have.rolcreatedb OR have.rolreplication
           OR have.rolbypassrls THEN
            RAISE EXCEPTION 'role % has more privileges than tocsin gives it', want.name
                USING HINT = 'it must be NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
                             'NOBYPASSRLS (docs/security.md)';
        END IF;
        IF have.rolcanlogin <> want.login THEN
            EXECUTE format('ALTER ROLE %I %s', want.name,
                           CASE WHEN want.login THEN 'LOGIN' ELSE 'NOLOGIN' END);
        END IF;
        IF have.rolinherit THEN
            EXECUTE format('ALTER ROLE %I NOINHERIT', want.name);
        END IF;
    END LOOP;
END $$;

-- The owner never authenticates, whatever a password says.
ALTER ROLE tocsin_owner PASSWORD NULL;
-- The CLI may become the owner (SET ROLE), but holds no owner rights otherwise.
GRANT tocsin_owner TO tocsin_admin;

-- ---- the audit trail ----------------------------------------------------------

-- Who wrote the row, as PostgreSQL authenticated it (the login role, even
-- under SET ROLE): `actor` is what the writer says (an operator's name, a
-- console's key), db_role is not up to the writer. Writers get INSERT on the
-- other columns only, so the default always applies.
ALTER TABLE audit ADD COLUMN db_role text NOT NULL DEFAULT session_user;

-- Append-only for everyone but the owner: privileges already keep the other
-- roles to INSERT; this also stops a superuser's slip (an UPDATE or DELETE
-- without SET ROLE tocsin_owner). Retention is a deliberate act:
--   SET ROLE tocsin_owner; DELETE FROM audit WHERE at < ...;
-- One statement-level trigger: nothing runs per row, nothing at all on INSERT.
CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user <> (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
        RAISE EXCEPTION '% is append-only: % refused for role %', TG_TABLE_NAME, TG_OP,
                        current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'only its owner may change or delete rows (docs/security.md)';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();

-- ---- ownership ----------------------------------------------------------------

ALTER SCHEMA public OWNER TO tocsin_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tocsin_admin, tocsin_server, tocsin_console;

-- Every table, view and function of the schema (001 to 006, this file's, and
-- schema_migrations), whoever made it. Sequences and indexes follow their
-- tables.
DO $$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT c.oid::regclass AS name, c.relkind
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype = 'e') LOOP
        EXECUTE format('ALTER %s %s OWNER TO tocsin_owner',
                       CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, o.name);
    END LOOP;
    FOR o IN SELECT p.oid::regprocedure AS name
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                               AND d.objid = p.oid AND d.deptype = 'e') LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO tocsin_owner', o.name);
    END LOOP;
END $$;

-- ---- privileges ---------------------------------------------------------------

-- From a clean slate: only what is granted below.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC, tocsin_admin, tocsin_server, tocsin_console;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, tocsin_admin, tocsin_server,
    tocsin_console;

-- Everyone reads, but the audit trail (keys, addresses, operators) is the
-- operator's: tocsind and consoles only write or never see it.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO tocsin_admin, tocsin_server, tocsin_console;
REVOKE SELECT ON audit FROM tocsin_server, tocsin_console;

-- tocsind (server/store.c, alerts_pg.c): history, append only.
GRANT INSERT ON events, rejected, incident_revisions, alert_acks TO tocsin_server;
GRANT INSERT (at, actor, action, subject, origin, detail) ON audit TO tocsin_server;
GRANT USAGE ON SEQUENCE audit_seq_seq, alert_acks_id_seq TO tocsin_server;
-- Its own progress, and the current state the trigger of 004 derives from
-- incident_revisions (running as the writer). Not history: the revisions are.
GRANT INSERT, UPDATE ON store_progress TO tocsin_server;
GRANT INSERT, UPDATE, DELETE ON incidents, incident_members TO tocsin_server;

-- The operator CLI (tools/cmd_adapter.c): keys, each change with its audit
-- row; the trigger of 001 bumps registry_version. `assets import` rebuilds
-- the registry's keys (ALTER TABLE), which only the owner may: it becomes
-- the owner for its transaction instead.
GRANT INSERT, UPDATE ON adapters TO tocsin_admin;
GRANT UPDATE ON registry_version TO tocsin_admin;
GRANT INSERT (at, actor, action, subject, origin, detail) ON audit TO tocsin_admin;
GRANT USAGE ON SEQUENCE audit_seq_seq TO tocsin_admin;

-- Tables of 006_drills.sql: it runs before this file on a new database,
-- when these roles may not exist yet, so what its tables need beyond SELECT
-- is granted here. A drill's row (server/alerts_pg.c): inserted when it
-- starts, its stopped_at set when it stops, nothing else ever changed.
GRANT INSERT, UPDATE (stopped_at) ON drills TO tocsin_server;

-- Tables later migrations make (as tocsin_owner: see the rule at the top).
ALTER DEFAULT PRIVILEGES FOR ROLE tocsin_owner IN SCHEMA public
    GRANT SELECT ON TABLES TO tocsin_admin, tocsin_server, tocsin_console;
