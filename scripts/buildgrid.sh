#!/usr/bin/env bash
# A real BuildGrid (REAPI v2 server: CAS, ActionCache, Execution and the Bots API) on
# 127.0.0.1, for the remote-execution tests and benchmarks, set up from nothing:
#
#   scripts/buildgrid.sh start    # prints the endpoint, e.g. http://127.0.0.1:50051
#   scripts/buildgrid.sh status
#   scripts/buildgrid.sh stop     # server and database stopped; state kept
#   scripts/buildgrid.sh clean    # stop and remove everything it made
#
# What `start` does (each step skipped when already done):
# 1. Debian's postgresql (apt-get, as root) when its programs are missing.
# 2. A Python virtual environment with BuildGrid 0.4.4 and every dependency pinned
#    (scripts/buildgrid-requirements.txt; 0.4.4 is the newest that runs on Python 3.11).
# 3. A PostgreSQL cluster of its own, on 127.0.0.1 only, trust authentication for its
#    one user, and `bgd migrate apply` (the scheduler accepts nothing but PostgreSQL).
# 4. `bgd server start` with CAS and ActionCache on disk, Execution (its Bots service
#    included) on the SQL scheduler; waits until the port answers.
#
# Settings (environment): IMGBUILD_BUILDGRID_DIR (default target/buildgrid),
# IMGBUILD_BUILDGRID_PORT (50051), IMGBUILD_BUILDGRID_PG_PORT (55432). As root, the
# database runs as the `postgres` user (PostgreSQL refuses root).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
dir=${IMGBUILD_BUILDGRID_DIR:-$repo/target/buildgrid}
port=${IMGBUILD_BUILDGRID_PORT:-50051}
pg_port=${IMGBUILD_BUILDGRID_PG_PORT:-55432}
requirements=$repo/scripts/buildgrid-requirements.txt
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pg_data=$dir/postgres
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
database_url="postgresql://bgd@127.0.0.1:$pg_port/buildgrid"

say() { echo "buildgrid: $*" >&2; }
fail() { say "$*"; exit 3; }

# as_db COMMAND...: runs a PostgreSQL program as the user that owns the cluster.
as_db() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

ensure_postgres() {
    if [ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ]; then
        return
    fi
    [ "$(id -u)" = 0 ] || fail "PostgreSQL is not installed: run as root once, or apt-get install postgresql"
    say "installing postgresql"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
}

ensure_venv() {
    local stamp=$dir/venv/.requirements
    if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements"; then
        return
    fi
    say "installing BuildGrid into $dir/venv"
    rm -rf "$dir/venv"
    python3 -m venv "$dir/venv" || fail "python3 -m venv failed (install python3-venv)"
    "$dir/venv/bin/pip" install --quiet --no-deps -r "$requirements" ||
        fail "pip could not install $requirements"
    cp "$requirements" "$stamp"
}

database_running() {
    as_db "$pg_bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1
}

ensure_database() {
    if [ ! -f "$pg_data/PG_VERSION" ]; then
        say "creating a PostgreSQL cluster in $pg_data"
        mkdir -p "$pg_data"
        [ "$(id -u)" = 0 ] && chown postgres: "$pg_data"
        as_db "$pg_bin/initdb" -D "$pg_data" -U bgd --auth=trust --no-sync >/dev/null
    fi
    if ! database_running; then
        [ "$(id -u)" = 0 ] && chown postgres: "$dir"
        as_db "$pg_bin/pg_ctl" -D "$pg_data" -l "$dir/postgres.log" -w \
            -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_data" start >/dev/null ||
            fail "PostgreSQL did not start; see $dir/postgres.log"
    fi
    if ! as_db "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U bgd -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'buildgrid'" | grep -q 1; then
        as_db "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U bgd buildgrid
    fi
    "$dir/venv/bin/bgd" migrate apply "$database_url" >"$dir/migrate.log" 2>&1 ||
        fail "bgd migrate failed; see $dir/migrate.log"
}

write_config() {
    cat >"$dir/server.yml" <<YAML
# gRPC calls served at once (default 5 per core): a build's Execute streams and every
# worker's long poll each hold one.
thread-pool-size: 200
server:
  - !channel
    address: "127.0.0.1:$port"
    insecure-mode: true
authorization:
  method: none
monitoring:
  enabled: false
connections:
  - !sql-connection &sql
    connection-string: $database_url
storages:
  - !disk-storage &cas
    path: $dir/cas
caches:
  - !lru-action-cache &action-cache
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: false
schedulers:
  - !sql-scheduler &scheduler
    sql: *sql
    storage: *cas
    action-cache: *action-cache
    # A worker that stops answering loses its lease after this (default 600 s): the
    # job goes back to the queue for another worker.
    bot-session-keepalive-timeout: 10
    session-expiry-timer-interval: 2
    # How often queued jobs are assigned, operation updates are read and waiting
    # workers look at the database (default 1 s each): most of a small action's
    # round trip.
    job-assignment-interval: 0.1
    poll-interval: 0.1
    bot-poll-interval: 0.1
instances:
  - name: ''
    services:
      - !action-cache
        cache: *action-cache
      - !execution
        scheduler: *scheduler
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
YAML
}

server_running() {
    [ -f "$dir/server.pid" ] && kill -0 "$(cat "$dir/server.pid")" 2>/dev/null
}

port_open() {
    python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex(('127.0.0.1', $port)))"
}

start() {
    ensure_postgres
    ensure_venv
    ensure_database
    if ! server_running; then
        write_config
        mkdir -p "$dir/cas"
        setsid "$dir/venv/bin/bgd" server start -v "$dir/server.yml" >"$dir/server.log" 2>&1 &
        echo $! >"$dir/server.pid"
        for _ in $(seq 1 120); do
            port_open && break
            server_running || fail "the server exited; see $dir/server.log"
            sleep 0.5
        done
        port_open || fail "the server does not answer on 127.0.0.1:$port; see $dir/server.log"
    fi
    echo "http://127.0.0.1:$port"
}

stop() {
    if server_running; then
        kill -- -"$(cat "$dir/server.pid")" 2>/dev/null || kill "$(cat "$dir/server.pid")" 2>/dev/null || true
        for _ in $(seq 1 20); do server_running || break; sleep 0.25; done
    fi
    rm -f "$dir/server.pid"
    if [ -n "$pg_bin" ] && [ -f "$pg_data/PG_VERSION" ] && database_running; then
        as_db "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status)
    if server_running && port_open; then echo "running: http://127.0.0.1:$port"; else echo "stopped"; exit 1; fi
    ;;
clean)
    stop
    rm -rf "$dir"
    ;;
*)
    echo "usage: scripts/buildgrid.sh start|status|stop|clean" >&2
    exit 2
    ;;
esac
