#!/usr/bin/env bash
# The test command (README.md): installs what the tests need, then runs every check CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

export CI="${CI:-true}"           # insta: a changed or new snapshot fails instead of being written
export NO_COLOR=1

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo check --no-default-features   # everything but the verifier builds without libz3
cargo test
cargo run --quiet -- check examples/*.warden
cargo run --quiet -- test examples/
cargo run --quiet -- fmt --check examples/
