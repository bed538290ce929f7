#!/usr/bin/env bash
# Installs the Debian packages the tests need, only when missing: PostgreSQL (real
# database tests), openssl (the independent referee for certificate verdicts), chromium
# (the dashboard's browser test, driven by playwright-core; never `npx playwright install`).
set -euo pipefail
need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
echo "debian packages ready: ${need[*]:-nothing to install}"
# moto (the AWS Secrets Manager stand-in) ships with the machine image's python3;
# PyPI is not reachable from CI, so say clearly when it is missing.
if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
  echo "moto is not importable by python3: the AWS backend tests will fail under CI=true" >&2
fi
