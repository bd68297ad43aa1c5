#!/usr/bin/env bash
# The one test command: installs the test peers, checks formatting and lints, builds
# once, and runs unit, integration and end-to-end tests with a summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --status-level fail --final-status-level fail
else
  cargo test --workspace --no-fail-fast
fi
