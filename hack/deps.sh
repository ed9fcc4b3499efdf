#!/usr/bin/env bash
# Installs the Debian packages Lockstep's tests and `lockstep dev` need when they are
# missing: git (with git-http-backend) for the Git server, openssh-client for SSH
# clones, gnupg to check PGP signatures independently. Idempotent and quiet when
# everything is present.
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v gpg >/dev/null || need+=(gnupg)
command -v go >/dev/null || { echo "deps: Go is required (https://go.dev/doc/install); this machine has none" >&2; exit 1; }
if ((${#need[@]})); then
  echo "deps: installing ${need[*]} with apt-get"
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
