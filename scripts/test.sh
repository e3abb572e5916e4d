#!/usr/bin/env bash
# The one command that runs every test: unit, integration, crash, CLI and
# the browser tests of the web app. Installs what the browser tests need
# when it is missing (Debian's Chromium, as root, and the web app's npm
# packages), then runs `cargo test --locked` with any extra arguments.
#
# Without Chromium or the npm packages the browser test reports that it
# was skipped and passes; LOOKOUT_REQUIRE_BROWSER=1 makes that a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

chromium="${LOOKOUT_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing chromium (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "!! $chromium is missing and this is not root: the browser tests will be skipped" >&2
  fi
fi

if [ ! -d assets/node_modules/playwright-core ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "== npm ci (assets/)"
    (cd assets && npm ci --no-audit --no-fund)
  else
    echo "!! npm is missing: the browser tests will be skipped" >&2
  fi
fi

echo "== cargo test --locked"
cargo test --locked "$@"
