#!/usr/bin/env bash
# The whole test suite: installs what is missing, then runs every test
# against a real Mosquitto (each test starts its own), the SQLite store,
# PostgreSQL and headless Chromium.
#
# PostgreSQL: HALLWATCH_TEST_POSTGRES names a server URL (each test creates
# and drops its own database there). It defaults to the local server at
# 127.0.0.1:5432 when one answers. With HALLWATCH_REQUIRE_* set to 1 (CI
# sets them all) a missing broker, browser or database fails the suite
# instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

if [ -z "${HALLWATCH_TEST_POSTGRES:-}" ]; then
  if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    export HALLWATCH_TEST_POSTGRES="postgres://postgres@127.0.0.1:5432/test"
  fi
fi
if [ "${CI:-}" = "true" ]; then
  # A clean clone builds once: incremental data would only take disk.
  export CARGO_INCREMENTAL=0
  export HALLWATCH_REQUIRE_BROKER=1 HALLWATCH_REQUIRE_BROWSER=1 HALLWATCH_REQUIRE_POSTGRES=1
  export HALLWATCH_TEST_POSTGRES="${HALLWATCH_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}"
fi

# Formatting and lints first: they take seconds and fail fast.
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

# The MQTT schemas and every example in mqtt/README.md agree.
python3 -c "import jsonschema" 2>/dev/null || python3 -m pip install --quiet jsonschema rfc3339-validator
python3 mqtt/check_schemas.py

cargo test --all-targets --locked
