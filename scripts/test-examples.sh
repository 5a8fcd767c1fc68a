#!/usr/bin/env bash
# Checks the library the way users get it: packs it once (npm pack), then for
# each example app under examples/ (scaffolds of `nest new`):
#   install  clean install of the locked tree + the packed tarball, no --legacy-peer-deps
#   tsc      nest build, and tsc --noEmit over src/ and test/
#   swc      nest build -b swc
#   smoke    node dist/main.js (the SWC build) answers GET /health and GET /
#   test     unit specs, then the e2e suite (Jest with --detectOpenHandles; it
#            must exit by itself, a hang fails after EXAMPLES_TEST_TIMEOUT s)
#
# Usage: bash scripts/test-examples.sh [repo-root]      (after `npm install` at the root)
#   EXAMPLES="nest11-app nest12-app"  apps to check (default: every examples/*/package.json)
#   EXAMPLES_KEEP_LOGS=1              keep the step logs (their folder is printed)
#   EXAMPLES_TARBALL=path.tgz         use this packed library instead of packing one
set -uo pipefail

ROOT="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
EXAMPLES_DIR="$ROOT/examples"
TEST_TIMEOUT="${EXAMPLES_TEST_TIMEOUT:-300}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/definable-examples.XXXXXX")"
cleanup() {
  # Background installs still running (after an interrupt): stop them.
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null; done
  [ -n "${EXAMPLES_KEEP_LOGS:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# The apps read these; the tests set what they need themselves.
unset OPENAI_API_KEY OPENAI_BASE_URL OPENAI_MODEL PORT

if [ -n "${EXAMPLES:-}" ]; then
  read -r -a APPS <<<"$EXAMPLES"
else
  APPS=()
  for manifest in "$EXAMPLES_DIR"/*/package.json; do APPS+=("$(basename "$(dirname "$manifest")")"); done
fi

now() { date +%s; }
with_timeout() { if command -v timeout >/dev/null; then timeout "$@"; else shift; "$@"; fi; }

FAILED=()

# step APP NAME COMMAND... : runs COMMAND in the app's folder, logged; prints the log's end on failure.
step() {
  local app="$1" name="$2"; shift 2
  local log="$WORK/$app.$name.log" start=$(now)
  printf '  %-8s ' "$name"
  if (cd "$EXAMPLES_DIR/$app" && "$@") >"$log" 2>&1; then
    printf 'ok (%ss)\n' "$(($(now) - start))"
    return 0
  fi
  printf 'FAILED (%ss)\n' "$(($(now) - start))"
  echo "----- $app: $name failed; last lines of $log:"
  grep -v 'npm warn' "$log" | tail -n 60 | sed 's/^/  | /'
  echo "-----"
  FAILED+=("$app: $name")
  return 1
}

# --- pack the library once ---------------------------------------------------
start=$(now)
mkdir -p "$WORK/pack"
if [ -n "${EXAMPLES_TARBALL:-}" ]; then
  echo "== using $EXAMPLES_TARBALL"
  cp "$EXAMPLES_TARBALL" "$WORK/pack/" || exit 1
else
echo "== packing nestjs-definable from $ROOT"
(
  cd "$ROOT" || exit 1
  if [ -n "$(node -p "require('./package.json').scripts?.prepare ?? ''")" ]; then
    npm pack --pack-destination "$WORK/pack" # `prepare` builds a clean dist/lib
  else
    npx tsc -p tsconfig.build.json && npm pack --pack-destination "$WORK/pack" --ignore-scripts
  fi
) >"$WORK/pack.log" 2>&1
fi
TGZ="$(ls "$WORK"/pack/*.tgz 2>/dev/null | head -n 1)"
if [ -z "$TGZ" ]; then
  echo "FAILED: npm pack"; tail -n 40 "$WORK/pack.log"; exit 1
fi
echo "   $(basename "$TGZ") ($(($(now) - start))s)"
node "$ROOT/scripts/check-package.mjs" "$TGZ" || exit 1

# --- the apps -----------------------------------------------------------------
install_app() {
  rm -rf node_modules dist
  # The locked tree plus the tarball, in one resolution. Not `npm ci`: the lock
  # is generated against a registry without the other platforms' optional
  # binaries (@swc/core-darwin-*, ...), which `npm ci` counts as out of sync.
  # --no-save leaves package.json and package-lock.json untouched, so the lock
  # never pins a local path; peers are checked (no --legacy-peer-deps).
  npm install --no-save "$TGZ"
}

# nest build compiles src/; the second tsc type-checks the tests and configs against the library's types too.
build_tsc() { npx nest build && test -f dist/main.js && npx tsc --noEmit -p tsconfig.json; }
build_swc() { npx nest build -b swc && test -f dist/main.js; }

smoke() {
  node - <<'EOF'
const { spawn } = require('node:child_process');
const net = require('node:net');
const free = () => new Promise((resolve, reject) => {
  const server = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  }).on('error', reject);
});
(async () => {
  const port = await free();
  const child = spawn(process.execPath, ['dist/main.js'], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  exited.then(() => (gone = true));
  const fail = (message) => { console.error(`smoke: ${message}`); if (!gone) child.kill('SIGKILL'); process.exit(1); };
  const deadline = Date.now() + 30_000;
  let health;
  while (!health) {
    if (gone) return fail('the app exited before answering');
    if (Date.now() > deadline) return fail(`no answer on port ${port} within 30 s`);
    try { health = await fetch(`http://127.0.0.1:${port}/health`); } catch { await new Promise((r) => setTimeout(r, 200)); }
  }
  const body = await health.json();
  if (health.status !== 200 || body.status !== 'ok') return fail(`GET /health answered ${health.status} ${JSON.stringify(body)}`);
  const hello = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  if (hello !== 'Hello World!') return fail(`GET / answered ${JSON.stringify(hello)} (constructor injection needs decorator metadata)`);
  console.log(`smoke: GET /health -> ${JSON.stringify(body)}`);
  child.kill('SIGTERM');
  const timer = setTimeout(() => fail('the app did not exit within 10 s of SIGTERM'), 10_000);
  const { code, signal } = await exited;
  clearTimeout(timer);
  console.log(`smoke: exited after SIGTERM (code ${code}, signal ${signal})`);
})().catch((error) => fail(error.stack));
EOF
}

run_tests() {
  if grep -q '"vitest"' package.json; then
    with_timeout "$TEST_TIMEOUT" npm test && with_timeout "$TEST_TIMEOUT" npm run test:e2e
  else
    with_timeout "$TEST_TIMEOUT" npm test && with_timeout "$TEST_TIMEOUT" npm run test:e2e -- --detectOpenHandles
  fi
}

# Installs dominate the time: run them side by side, then the rest app by app.
INSTALL_PIDS=()
for i in "${!APPS[@]}"; do
  app="${APPS[$i]}"
  INSTALL_PIDS[$i]=""
  [ -f "$EXAMPLES_DIR/$app/package.json" ] || continue
  (
    start=$(now)
    (cd "$EXAMPLES_DIR/$app" && install_app)
    rc=$?
    echo "$(($(now) - start))" >"$WORK/$app.install.time"
    exit $rc
  ) >"$WORK/$app.install.log" 2>&1 &
  INSTALL_PIDS[$i]=$!
done

# report_install APP PID: waits for the app's background install and reports it like a step.
report_install() {
  local app="$1" log="$WORK/$1.install.log"
  printf '  %-8s ' install
  if wait "$2"; then
    printf 'ok (%ss)\n' "$(cat "$WORK/$app.install.time")"
    return 0
  fi
  printf 'FAILED (%ss)\n' "$(cat "$WORK/$app.install.time" 2>/dev/null)"
  echo "----- $app: install failed; last lines of $log:"
  grep -v 'npm warn' "$log" | tail -n 40 | sed 's/^/  | /'
  echo "-----"
  FAILED+=("$app: install")
  return 1
}

PASSED=0
START=$(now)
for i in "${!APPS[@]}"; do
  app="${APPS[$i]}"
  if [ -z "${INSTALL_PIDS[$i]}" ]; then
    echo "== $app: no such app in $EXAMPLES_DIR"; FAILED+=("$app: missing"); continue
  fi
  echo "== $app"
  report_install "$app" "${INSTALL_PIDS[$i]}" &&
    step "$app" tsc build_tsc &&
    step "$app" swc build_swc &&
    step "$app" smoke smoke &&
    step "$app" test run_tests &&
    PASSED=$((PASSED + 1))
done

echo "== $(($(now) - START))s for ${#APPS[@]} apps (installs in parallel), plus packing"
[ -n "${EXAMPLES_KEEP_LOGS:-}" ] && echo "   logs: $WORK"
[ ${#FAILED[@]} -gt 0 ] && printf 'FAILED: %s\n' "${FAILED[@]}"
echo "examples: $PASSED passed, ${#FAILED[@]} failed"
[ ${#FAILED[@]} -eq 0 ]
