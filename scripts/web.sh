#!/usr/bin/env bash
# Rebuilds web/dist (the editor app and GraphiQL, embedded in the binary)
# from web/src with the packages pinned in web/package-lock.json. The built
# files are committed, so that `go build` needs no Node; scripts/test.sh
# checks that this rebuild reproduces them. See docs/web.md.
set -euo pipefail
cd "$(dirname "$0")/../web"
npm ci --no-audit --no-fund --loglevel=error
node build.mjs
