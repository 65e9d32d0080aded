#!/usr/bin/env bash
# Installs what warden's build and tests need on a fresh Debian machine of this project's kind.
# Idempotent: installs only what is missing. Needs root (apt-get) the first time.
set -euo pipefail

apt_packages=(libz3-dev pkg-config clang libclang-dev)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
