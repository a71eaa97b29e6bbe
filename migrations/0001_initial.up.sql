-- Sources and their entries: the system of record of the PostgreSQL store.
--
-- Exactness: documents are kept as `json` (an exact copy of the text, key order included; never
-- `jsonb`, which reorders keys), and the official metadata keeps its nanosecond timestamps in
-- `official`. The `timestamptz` columns (microseconds) are copies for SQL convenience only.
-- Names and versions use the "C" collation so that the primary key orders them byte-wise, the
-- order the application sorts in.

CREATE TABLE sources (
    name        text COLLATE "C" PRIMARY KEY,
    -- The source's SyncStatus as JSON text.
    status      json NOT NULL,
    -- Copy of status->>'phase', for SQL convenience.
    phase       text NOT NULL,
    -- When this row last changed (database clock).
    changed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE entries (
    source        text COLLATE "C" NOT NULL REFERENCES sources (name) ON DELETE CASCADE,
    name          text COLLATE "C" NOT NULL,
    version       text COLLATE "C" NOT NULL,
    -- The server.json document, compact, exactly as the application wrote it.
    server_json   json NOT NULL,
    -- The official metadata (status, timestamps with nanoseconds, isLatest) as JSON text.
    official      json NOT NULL,
    content_hash  text NOT NULL,
    -- Copies of fields of `official`, for SQL convenience (timestamps rounded to microseconds).
    status        text NOT NULL CHECK (status IN ('active', 'deprecated', 'deleted')),
    published_at  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    is_latest     boolean NOT NULL,
    PRIMARY KEY (source, name, version)
);

-- Lookups of a server across sources, and incremental (`updated_since`) reads.
CREATE INDEX entries_name_version_idx ON entries (name, version);
CREATE INDEX entries_updated_at_idx ON entries (updated_at);

-- The application role, when prime-db has created it already; prime-db grants these itself
-- (including default privileges for tables created later) when it runs after the migrations.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'toolhive_registry_server') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE sources, entries TO toolhive_registry_server;
    END IF;
END
$$;
