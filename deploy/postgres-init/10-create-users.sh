#!/usr/bin/env bash
# Creates the users of thv-registry-api, once: the postgres image runs the scripts in
# /docker-entrypoint-initdb.d only when it initialises an empty data directory (to run it again,
# `docker compose down -v` first: that deletes the data).
#
#   db_migrator  LOGIN; owns the database and the public schema; runs the migrations.
#   db_app       LOGIN; member of toolhive_registry_server; reads and writes rows only.
#
# toolhive_registry_server is the role the server's own `prime-db` command grants (as the Go server
# does); every table and sequence db_migrator creates grants row access to it by default, so the
# application user never needs schema privileges.
#
# The passwords are read from the compose secrets and passed as psql variables (:'name' quotes them
# as SQL literals): they never appear in a command line or in the SQL text.
set -euo pipefail

app_password="$(cat /run/secrets/db_app_password)"
migrator_password="$(cat /run/secrets/db_migrator_password)"

psql --no-psqlrc -v ON_ERROR_STOP=1 \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=db="$POSTGRES_DB" \
    --set=app_password="$app_password" \
    --set=migrator_password="$migrator_password" <<'SQL'
CREATE ROLE toolhive_registry_server NOLOGIN;
CREATE ROLE db_migrator LOGIN PASSWORD :'migrator_password';
CREATE ROLE db_app LOGIN PASSWORD :'app_password';
GRANT toolhive_registry_server TO db_app;

ALTER DATABASE :"db" OWNER TO db_migrator;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO toolhive_registry_server;

ALTER SCHEMA public OWNER TO db_migrator;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO toolhive_registry_server;
ALTER DEFAULT PRIVILEGES FOR ROLE db_migrator IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO toolhive_registry_server;
ALTER DEFAULT PRIVILEGES FOR ROLE db_migrator IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO toolhive_registry_server;
SQL
