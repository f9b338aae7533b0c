#!/usr/bin/env bash
# Installs Node-RED 4.1.8 into a scratch directory (once) and writes the
# comparison flow there: `setup.sh <scratch>`. HALLS_JSON names the halls.
# Node-RED 5 needs a newer Node than Debian's; 4.1.8 runs on Node 18 and 20.
set -euo pipefail
scratch="$1"
here="$(cd "$(dirname "$0")" && pwd)"
command -v node >/dev/null || { echo "node is missing (apt-get install nodejs npm)" >&2; exit 1; }
mkdir -p "$scratch"
if [ ! -f "$scratch/node_modules/node-red/package.json" ] \
  || [ "$(node -p "require('$scratch/node_modules/node-red/package.json').version")" != "4.1.8" ]; then
  npm install --prefix "$scratch" --no-audit --no-fund --loglevel=error node-red@4.1.8 >&2
fi
node "$here/flow.js" > "$scratch/flow.json"
