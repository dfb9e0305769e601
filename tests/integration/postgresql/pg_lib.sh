# pg_lib.sh - a throw-away PostgreSQL server for the tests (source after lib.sh).
#
#   pg_start          initdb a cluster into $TMP/pg and start it on a free
#                     loopback port; sets PGPORT, PGURL (with the password) and
#                     PGURL_NOPW; stopped (immediate) when the test exits
#   pg_stop_now       pg_ctl stop -m immediate (a crash, as far as clients see)
#   pg_restart        start the same cluster again, same port
#   pgq SQL           psql -At as the superuser on the test database
#
# initdb and postgres refuse to run as root. When the tests run as root (CI
# containers, this machine), the cluster runs as `nobody` through runuser
# (util-linux) or setpriv: $TMP is opened to it (mode 711) and the cluster
# directory is nobody's. As any other user the server runs as that user.
# Client and server talk over 127.0.0.1 with scram-sha-256 passwords (a
# wrong password is a test case); the Unix socket is in the cluster directory.
need initdb postgresql
need pg_ctl postgresql
need psql postgresql-client
need python3

PGDIR=$TMP/pg
PG_AS=()
pg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pg_as() { "${PG_AS[@]}" "$@"; }

pg_ctl_start() {
  pg_as pg_ctl -D "$PGDIR/data" -l "$PGDIR/log" -w -t 30 \
    -o "-p $PGPORT -c listen_addresses=127.0.0.1 -k $PGDIR -c fsync=off -c max_connections=40" \
    start >/dev/null || { tail -20 "$PGDIR/log" >&2; fail "postgres did not start"; }
}

pg_start() {
  mkdir -p "$PGDIR"
  if [ "$(id -u)" = 0 ]; then
    if command -v runuser >/dev/null; then
      PG_AS=(runuser -u nobody --)
    elif command -v setpriv >/dev/null; then
      PG_AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
    else
      skip "running as root without runuser or setpriv: cannot start postgres as another user"
    fi
    chmod 711 "$TMP"
    chown nobody "$PGDIR"
  fi
  PGPASSWORD_TEST=s3cret-pw
  printf '%s\n' "$PGPASSWORD_TEST" >"$PGDIR/pw"
  chmod 644 "$PGDIR/pw"
  pg_as initdb -D "$PGDIR/data" -U postgres --pwfile="$PGDIR/pw" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C >"$PGDIR/initdb.log" 2>&1 ||
    { tail -20 "$PGDIR/initdb.log" >&2; fail "initdb failed"; }
  PGPORT=$(pg_free_port)
  pg_ctl_start
  trap 'pg_as pg_ctl -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true; cleanup' EXIT
  # A test killed outright (a CTest timeout's SIGKILL) runs no trap: this
  # watchdog stops the server once the test's shell is gone. The server's pid
  # is read now: its data folder may be deleted by then.
  local pgpid
  pgpid=$(head -1 "$PGDIR/data/postmaster.pid")
  (
    exec </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&-
    while kill -0 $$ 2>/dev/null; do sleep 1; done
    kill -QUIT "$pgpid" 2>/dev/null || true
  ) &
  pgq_db postgres "CREATE DATABASE sluice" >/dev/null
  PGURL="postgresql://postgres:$PGPASSWORD_TEST@127.0.0.1:$PGPORT/sluice"
  PGURL_NOPW="postgresql://postgres@127.0.0.1:$PGPORT/sluice"
  export PGPORT PGURL
}

pg_stop_now() { pg_as pg_ctl -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true; }
pg_restart() { pg_ctl_start; }

pgq_db() { local db=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -h "$PGDIR" -p "$PGPORT" -U postgres -d "$db" -c "$*"; }
pgq() { pgq_db sluice "$@"; }

# pg_to_sqlite DB TABLE...: copies PostgreSQL tables into the SQLite file DB
# with the values SQLite tables hold (timestamps as the engine's ISO text,
# booleans as 0/1), to compare them with the references the SQLite tests use.
pg_to_sqlite() {
  local db=$1 t; shift
  for t in "$@"; do
    local cols sel decl
    cols=$(pgq "SELECT string_agg(column_name || ':' || replace(data_type, ' ', '_'), ' ' ORDER BY ordinal_position)
                FROM information_schema.columns WHERE table_name = '$t' AND table_schema = '${PG_SCHEMA:-public}'")
    [ -n "$cols" ] || fail "pg_to_sqlite: no table $t in PostgreSQL"
    sel=""; decl=""
    for c in $cols; do
      local n=${c%%:*} ty=${c#*:}
      case "$ty" in
        timestamp*) sel+="${sel:+, }CASE WHEN extract(microseconds FROM \"$n\")::bigint % 1000000 = 0 THEN to_char(\"$n\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') WHEN extract(microseconds FROM \"$n\")::bigint % 1000 = 0 THEN to_char(\"$n\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') ELSE to_char(\"$n\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END AS \"$n\""; decl+="${decl:+, }\"$n\" TEXT" ;;
        boolean) sel+="${sel:+, }\"$n\"::int AS \"$n\""; decl+="${decl:+, }\"$n\" INTEGER" ;;
        bigint|integer) sel+="${sel:+, }\"$n\""; decl+="${decl:+, }\"$n\" INTEGER" ;;
        double*|numeric|real) sel+="${sel:+, }\"$n\""; decl+="${decl:+, }\"$n\" REAL" ;;
        *) sel+="${sel:+, }\"$n\""; decl+="${decl:+, }\"$n\" TEXT" ;;
      esac
    done
    pgq "SELECT row_to_json(x) FROM (SELECT $sel FROM \"${PG_SCHEMA:-public}\".\"$t\") x" >"$TMP/pg_$t.json" ||
      fail "pg_to_sqlite: export of $t failed"
    python3 - "$db" "$t" "$decl" "$TMP/pg_$t.json" <<'PY'
import json, sqlite3, sys
db, t, decl, path = sys.argv[1:5]
names = [d.rsplit(' ', 1)[0].strip('"') for d in decl.split(', ')]
con = sqlite3.connect(db)
kind = con.execute('SELECT type FROM sqlite_master WHERE name = ?', (t,)).fetchone()
if kind: con.execute(f'DROP {kind[0].upper()} "{t}"')
con.execute(f'CREATE TABLE "{t}" ({decl})')
rows = []
with open(path) as f:
    for line in f:
        if line.strip():
            r = json.loads(line)
            rows.append([r[n] for n in names])
con.executemany(f'INSERT INTO "{t}" VALUES ({",".join("?" * len(names))})', rows)
con.commit()
PY
  done
}
