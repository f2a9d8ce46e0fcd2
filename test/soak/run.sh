#!/usr/bin/env bash
# The soak: 200 pods × 4 attachments through libcni, 8 workers, against the built executable.
# Not part of any default run (it takes minutes). Needs root, Go and Debian's libcni sources
# (as the e2e tier). SOAK_PODS / SOAK_WORKERS change the size. Prints the report at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x dist/bin/manifold ] || ./build.sh
exec node_modules/.bin/vitest run --project soak --reporter=verbose "$@"
