#!/usr/bin/env bash
# Installs the Debian packages Lockstep's tests and `lockstep dev` need when they are
# missing: git (with git-http-backend) for the Git server, openssh-client for SSH
# clones, gnupg to check PGP signatures independently, openssl to check a bundle's
# signature as a user at the air gap does, and chromium with one font for
# the browser tests of the web UI. Idempotent and quiet when everything is present.
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v gpg >/dev/null || need+=(gnupg)
# openssl checks an offline bundle's signature the way a user at the air gap does.
command -v openssl >/dev/null || need+=(openssl)
# Headless Chromium starts without any font but then draws no text, so screenshots
# show empty boxes and text metrics are wrong; DejaVu is small and enough.
command -v chromium >/dev/null || need+=(chromium)
dpkg-query -W -f '${Status}' fonts-dejavu-core 2>/dev/null | grep -q 'ok installed' || need+=(fonts-dejavu-core)
command -v go >/dev/null || { echo "deps: Go is required (https://go.dev/doc/install); this machine has none" >&2; exit 1; }
if ((${#need[@]})); then
  echo "deps: installing ${need[*]} with apt-get"
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  # Without --no-install-recommends chromium brings 131 packages (systemd, udev, avahi,
  # samba, printer tools, perl); with it, 25 (about 10 s on a clean machine), and
  # headless Chromium needs none of the rest. apt's chatter is shown only on failure.
  if ! { $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "deps: apt-get failed" >&2
    exit 1
  fi
fi
