#!/usr/bin/env bash
# Installs Debian's PostgreSQL server binaries (initdb, postgres) when they are
# missing: the ledger's PostgreSQL tests and benchmarks start a server of their
# own from them (internal/testenv/postgres). Idempotent and quiet when present.
#
# The package would also create a cluster "main", start it on port 5432 and
# (under systemd) start it at every boot: a server nothing uses, holding memory.
# A policy-rc.d that refuses (exit 101) keeps the install from starting it, and
# the cluster is marked manual so that no boot starts it either.
set -euo pipefail
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && exit 0
echo "postgres: installing postgresql with apt-get"
sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
log=$(mktemp)
policy=""
cleanup() {
  rm -f "$log"
  [[ -z $policy ]] || $sudo rm -f "$policy"
}
trap cleanup EXIT
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\n# written by lockstep hack/postgres.sh for the length of an install\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
fi
# apt's chatter is shown only on failure.
if ! { $sudo apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "postgres: apt-get failed" >&2
  exit 1
fi
for conf in /etc/postgresql/*/main/start.conf; do
  if [[ -e $conf ]]; then echo manual | $sudo tee "$conf" >/dev/null; fi
done
# Started anyway (no policy-rc.d honoured): stopped.
if command -v pg_lsclusters >/dev/null; then
  pg_lsclusters --no-header 2>/dev/null | while read -r version name _ status _; do
    if [[ $status == online* ]]; then $sudo pg_ctlcluster "$version" "$name" stop || true; fi
  done
fi
