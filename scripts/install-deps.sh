#!/usr/bin/env bash
# Installs the system packages warden's build needs, when missing (idempotent).
# The `verify` feature (default) links Debian's libz3 (4.8.12 on bookworm) through pkg-config.
set -euo pipefail

needed=(libz3-dev pkg-config)
missing=()
for pkg in "${needed[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
