-- 008_rate.sql: a rate limit of each adapter key's own (design §3.1, §7;
-- docs/security.md "Fair share and rate limits").
--
-- NULL is "the server's default" ([ingest] rate and burst of tocsind.ini);
-- rate_per_s 0 is "no limit" for this key. Set with `tocsin adapter add
-- ... --rate EV_PER_S --burst N` or changed with `tocsin adapter limit`;
-- the adapters trigger of 001_init.sql bumps registry_version, so a running
-- tocsind applies a change to the live connection, as it does a revocation.
-- (Versions 006 and 007 are other migrations; `tocsin db migrate` applies
-- every file not yet recorded, whatever the order they land in.)

ALTER TABLE adapters
    ADD COLUMN rate_per_s integer CHECK (rate_per_s BETWEEN 0 AND 1000000),
    ADD COLUMN rate_burst integer CHECK (rate_burst BETWEEN 1 AND 1000000);
