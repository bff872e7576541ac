# Shared by deploy/local/run and deploy/local/test: package installation, the build, and a
# throwaway PostgreSQL 15 cluster. Source it; it defines functions only.

CCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CCH_PG_BIN=/usr/lib/postgresql/15/bin

cch_say() { printf '[cch] %s\n' "$*" >&2; }
cch_die() { printf '[cch] error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages of deploy/local/packages.txt that are missing. A package that an
# installed package provides counts as present (e.g. npm, which a nodejs package from another
# source provides and conflicts with).
cch_install_packages() {
  local missing=() package provided
  provided=$(dpkg-query -W -f='${db:Status-Abbrev} ${Provides}\n' 2>/dev/null |
    awk '$1 == "ii" { $1 = ""; print }' | tr ',' '\n' | sed 's/([^)]*)//; s/^ *//; s/ *$//; s/:.*//')
  while read -r package; do
    [[ -z "$package" || "$package" == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' && continue
    grep -qxF "$package" <<<"$provided" && continue
    missing+=("$package")
  done < "$CCH_ROOT/deploy/local/packages.txt"
  [[ ${#missing[@]} -eq 0 ]] && return 0
  cch_say "installing missing packages: ${missing[*]}"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || cch_die "packages missing (${missing[*]}) and not root: install them or run as root"
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq || cch_die "apt-get update failed"
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    cch_die "apt-get install failed for: ${missing[*]}"
}

# Configures and builds one CMake preset (debug, release or ci).
cch_build() {
  local preset=$1
  local jobs=${CCH_BUILD_JOBS:-$(nproc)}
  cch_say "building preset '$preset' with $jobs jobs"
  (cd "$CCH_ROOT" && cmake --preset "$preset" >/dev/null && cmake --build --preset "$preset" -j "$jobs") ||
    cch_die "build failed (preset $preset)"
}

# Prints a TCP port on 127.0.0.1 that nothing listens on, below the kernel's range of ephemeral
# ports (a port in that range may be the local end of an outgoing connection, which a connection
# probe does not see but which makes a later listen fail), and not printed before by this script
# (its callers listen only later, so a probe alone could hand out one port twice).
cch_free_port() {
  local port attempt low=32768 given="${TMPDIR:-/tmp}/cch-ports.$$"
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  ((low > 11000)) || low=32768
  for attempt in $(seq 1 200); do
    port=$((10000 + RANDOM % (low - 10000)))
    grep -qxF "$port" "$given" 2>/dev/null && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port" >>"$given"
      echo "$port"
      return 0
    fi
  done
  cch_die "no free TCP port found"
}

# Runs a command as the postgres user when we are root (initdb refuses to run as root).
cch_as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Starts a throwaway cluster with durable settings in a new directory under /tmp (reachable by
# the postgres user even when the checkout lives in a private home directory); sets CCH_PG_DIR,
# CCH_PG_PORT and CCH_PG_ADMIN_URL (superuser, database postgres).
cch_pg_start() {
  [[ -x "$CCH_PG_BIN/initdb" ]] || cch_die "PostgreSQL 15 server binaries not found in $CCH_PG_BIN"
  CCH_PG_DIR=$(mktemp -d /tmp/cch-pg.XXXXXX)
  [[ $(id -u) -eq 0 ]] && chown postgres "$CCH_PG_DIR"
  cch_as_postgres "$CCH_PG_BIN/initdb" -D "$CCH_PG_DIR/data" -U postgres --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 >"$CCH_PG_DIR/initdb.log" 2>&1 || { cat "$CCH_PG_DIR/initdb.log" >&2; cch_die "initdb failed"; }
  CCH_PG_PORT=$(cch_free_port)
  cch_as_postgres "$CCH_PG_BIN/pg_ctl" -D "$CCH_PG_DIR/data" -l "$CCH_PG_DIR/postgres.log" -w -t 60 \
    -o "-p $CCH_PG_PORT -k $CCH_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=300 ${CCH_PG_EXTRA_OPTIONS:-}" \
    start >/dev/null || { cat "$CCH_PG_DIR/postgres.log" >&2; cch_die "PostgreSQL did not start"; }
  CCH_PG_ADMIN_URL="postgresql://postgres@127.0.0.1:$CCH_PG_PORT/postgres"
  export CCH_PG_DIR CCH_PG_PORT CCH_PG_ADMIN_URL
  cch_say "PostgreSQL 15 running on 127.0.0.1:$CCH_PG_PORT (data in $CCH_PG_DIR, fsync and synchronous_commit on)"
}

# Stops the cluster that cch_pg_start started, if any, and removes its directory; forgets the
# ports cch_free_port handed out.
cch_pg_stop() {
  rm -f "${TMPDIR:-/tmp}/cch-ports.$$"
  [[ -n "${CCH_PG_DIR:-}" && -d "$CCH_PG_DIR" ]] || return 0
  [[ -d "$CCH_PG_DIR/data" ]] &&
    cch_as_postgres "$CCH_PG_BIN/pg_ctl" -D "$CCH_PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1
  rm -rf "$CCH_PG_DIR"
  CCH_PG_DIR=
}

# Runs SQL as the superuser on the throwaway cluster, in database postgres.
cch_psql() {
  psql -X -q -v ON_ERROR_STOP=1 "$CCH_PG_ADMIN_URL" "$@"
}

# The same in another database: cch_psql_in DATABASE [psql arguments].
cch_psql_in() {
  local database=$1
  shift
  psql -X -q -v ON_ERROR_STOP=1 "postgresql://postgres@127.0.0.1:$CCH_PG_PORT/$database" "$@"
}
