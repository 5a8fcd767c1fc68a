#!/usr/bin/env bash
# The whole test suite (`npm test`, which .ci/run calls):
#   1. builds everything with tsc (lib, tests, sample, benchmarks) into dist/;
#   2. runs the suite against the Nest 11 line (the repository's devDependencies);
#   3. runs the same built suite against the Nest 12 line: compat/nest12 installs Nest 12's
#      packages, the build is copied under it, and Node's resolution finds them first there
#      (everything else falls through to the root's node_modules);
#   4. packs the library and builds/tests the example apps (scripts/test-examples.sh).
# Every step runs even when an earlier one fails; the exit code is non-zero if any failed.
#   TEST_STEPS="nest11 nest12 examples"  which steps to run after the build (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."
STEPS="${TEST_STEPS:-nest11 nest12 examples}"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

# The browser tests drive the system Chromium (Debian's package; never a downloaded browser).
bash scripts/setup-chromium.sh || exit 1
npm run build:all || exit 1
suite() { node --test --test-reporter=spec --test-concurrency=2 $(find "$1" -name '*.test.js' | sort); }
failed=()

if [[ " $STEPS " == *" nest11 "* ]]; then
  echo "=== Suite on Nest $(node -p "require('@nestjs/core/package.json').version")"
  suite dist/test || failed+=("suite on Nest 11")
fi

if [[ " $STEPS " == *" nest12 "* ]]; then
  if (cd compat/nest12 && npm ci --no-audit --no-fund --loglevel=error); then
    rm -rf compat/nest12/dist && cp -r dist compat/nest12/dist
    echo "=== Suite on Nest $(node -p "require('./compat/nest12/node_modules/@nestjs/core/package.json').version")"
    suite compat/nest12/dist/test || failed+=("suite on Nest 12")
  else
    failed+=("Nest 12 install (compat/nest12)")
  fi
fi

if [[ " $STEPS " == *" examples "* ]]; then
  bash scripts/test-examples.sh . || failed+=("example apps")
fi

if (( ${#failed[@]} )); then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "All test steps passed: $STEPS"
