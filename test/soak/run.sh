#!/usr/bin/env bash
# The soak: 200 pods × 4 attachments through libcni, 8 workers, against the built executable.
# Not part of any default run (it takes minutes). Needs root, Go and Debian's libcni sources
# (as the e2e tier). SOAK_PODS / SOAK_WORKERS change the size. Prints the report at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The pinned Node 24 first, as build.sh and test/run-all.sh do: vitest's `#!/usr/bin/env node`
# would otherwise run under the machine's Node 20 (its reporter needs Map.groupBy).
export PATH="$PWD/node_modules/.bin:$PATH"
[ -x dist/bin/manifold ] || ./build.sh
exec vitest run --project soak --reporter=verbose "$@"
