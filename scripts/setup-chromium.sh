#!/usr/bin/env bash
# Makes a system Chromium available for the browser tests (test/e2e/playground.test.ts drives it
# with playwright-core, which never downloads a browser of its own).
# Idempotent: when `chromium` is already on PATH it does nothing. Otherwise it installs Debian's
# `chromium` package with apt-get (as root, or through sudo when that works without a password).
# Exits non-zero with a message saying what to do when Chromium cannot be installed.
set -euo pipefail

log() { echo "setup-chromium: $*"; }
fail() { echo "setup-chromium: ERROR: $*" >&2; exit 1; }

if command -v chromium >/dev/null 2>&1; then
  log "chromium already installed at $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown')); nothing to do"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  fail "chromium is not on PATH and this user cannot install packages (not root, no password-less sudo). Install it yourself (Debian/Ubuntu: 'apt-get install chromium') and make sure 'chromium' is on PATH."
fi

command -v apt-get >/dev/null 2>&1 \
  || fail "chromium is not on PATH and apt-get is not available on this system. Install Chromium with your package manager and make sure 'chromium' is on PATH."

export DEBIAN_FRONTEND=noninteractive
log "chromium not found; running apt-get update"
"${SUDO[@]}" apt-get update -qq \
  || fail "'apt-get update' failed (no network or no package mirror?). Install Chromium by other means and put 'chromium' on PATH."

log "installing the 'chromium' package (apt-get install -y --no-install-recommends chromium)"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium \
  || fail "'apt-get install chromium' failed. On Ubuntu, 'chromium' may be a snap stub; install a Chromium build and put 'chromium' on PATH."

command -v chromium >/dev/null 2>&1 \
  || fail "the 'chromium' package was installed but no 'chromium' command is on PATH; add its directory to PATH."
log "installed chromium at $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"
