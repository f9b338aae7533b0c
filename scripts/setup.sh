#!/usr/bin/env bash
# Installs what the test suite needs and a fresh machine may lack:
# Mosquitto and NATS (the failover test runs on both), Debian's Chromium (never a downloaded browser), CJK fonts for
# legible screenshots, and the browser tests' npm packages. Idempotent:
# it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# A system Mosquitto or NATS service is not needed: each test starts its own
# broker on a free port.
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "setup: installing the browser tests' npm packages"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
# The OpenAPI test (tests/openapi.rs) validates the served document with
# openapi-spec-validator, which brings jsonschema for its schema checks.
python3 -c "import openapi_spec_validator" 2>/dev/null || python3 -m pip install --quiet openapi-spec-validator
# tests/schemathesis.rs runs schemathesis against the served document; pinned,
# since a new release adds checks of its own.
command -v schemathesis >/dev/null 2>&1 || python3 -m pip install --quiet "schemathesis==4.32.5"
echo "setup: ready"
