#!/usr/bin/env bash
# Installs what warden's build and tests need on a fresh Debian machine of this project's kind.
# Idempotent: installs only what is missing. Needs root (apt-get) the first time.
set -euo pipefail

# libz3-dev: the `verify` feature (default) links Debian's libz3 4.8.12 through pkg-config.
# redis-server (Debian 12: 7.0.15, with redis-cli and TLS): the shared-limits tests start their
# own; openssl makes their test certificates.
apt_packages=(libz3-dev pkg-config redis-server openssl)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Real MCP peers for the end-to-end tests, pinned, installed outside the repository so that
# CI's clean clone reuses them: npm servers and a Python venv with the official SDK (client)
# and Python servers.
PEERS="${WARDEN_PEERS:-$HOME/.cache/warden-peers}"
mkdir -p "$PEERS"
npm_packages=(
  "@modelcontextprotocol/server-everything@2026.8.31"
  "@modelcontextprotocol/server-filesystem@2026.8.31"
)
if [ ! -f "$PEERS/npm.stamp" ] || [ "$(cat "$PEERS/npm.stamp")" != "${npm_packages[*]}" ]; then
  echo "install-deps: npm install ${npm_packages[*]}"
  (cd "$PEERS" && npm install --silent --no-audit --no-fund --prefix "$PEERS/npm" "${npm_packages[@]}" >/dev/null)
  echo "${npm_packages[*]}" > "$PEERS/npm.stamp"
fi
# Each Python peer in a venv of its own: they pin different versions of the SDK.
pip_venv() { # NAME PACKAGE...
  local name="$1"; shift
  local stamp="$PEERS/$name.stamp"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$*" ]; then
    echo "install-deps: pip install ($name) $*"
    rm -rf "$PEERS/$name"
    python3 -m venv "$PEERS/$name"
    "$PEERS/$name/bin/pip" install --quiet --disable-pip-version-check "$@"
    echo "$*" > "$stamp"
  fi
}
pip_venv client-venv "mcp==2.3.0"
pip_venv time-venv "mcp-server-time==2026.10.19"
pip_venv kestra-venv "iflow-mcp-mcp-server-python==0.1.2"
