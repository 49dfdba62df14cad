#!/bin/sh
# What the official postgres image does without a command, for the lab's postgres containers: initialise PGDATA
# once (superuser POSTGRES_USER, password POSTGRES_PASSWORD, database POSTGRES_DB), listen on every address of
# the pod with password authentication, then run the server in the foreground.
set -eu
: "${PGDATA:?PGDATA is not set}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "Error: Database is uninitialized and superuser password is not specified (set POSTGRES_PASSWORD)." >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  pwfile="$PGDATA.pw"
  (umask 077 && printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile")
  # --no-sync / -F: a lab's database is disposable, and fsync on a loaded machine made the first start take 15 s
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-host=scram-sha-256 --auth-local=trust --no-sync >/dev/null
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\"" | postgres --single -F -D "$PGDATA" postgres >/dev/null
  fi
  echo "PostgreSQL init process complete; ready for start up."
fi
exec postgres -D "$PGDATA" "$@"
