#!/usr/bin/env bash
# Installs Debian's PostgreSQL server for the store tests, only when its binaries are
# missing. Idempotent. The tests start their own throwaway cluster (test/setup/postgres.ts);
# nothing here relies on the packaged service or its `main` cluster being started.
set -euo pipefail
have_server() {
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && return 0
  done
  return 1
}
if have_server; then
  echo "postgresql: server binaries present ($(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' '))"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql
have_server || { echo "postgresql: installed, but no postgres/initdb/pg_ctl under /usr/lib/postgresql/*/bin" >&2; exit 1; }
echo "postgresql: installed ($(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' '))"
