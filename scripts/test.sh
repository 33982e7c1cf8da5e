#!/usr/bin/env bash
# The test command of the README: installs what is needed, then runs format, lint, types and every test
# (`npm run ok`), and prints the closing line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx biome format .
npm run --silent lint
npm run --silent types
mkdir -p .test-results
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-results/vitest.json
status=$?
set -e
node scripts/test-summary.mjs .test-results/vitest.json
exit $status
