#!/usr/bin/env bash
# The one command that runs every test: unit, integration, crash, CLI, the
# PromQL comparison with a real Prometheus and the browser tests of the web
# app. Installs what those need when it is missing (Debian's Chromium and
# Prometheus, as root, and the web app's npm packages), then runs
# `cargo test --locked` with any extra arguments.
#
# Without Chromium or the npm packages the browser test reports that it
# was skipped and passes; LOOKOUT_REQUIRE_BROWSER=1 makes that a failure.
# Likewise without Prometheus for the PromQL comparison
# (LOOKOUT_REQUIRE_PROMETHEUS=1), without Prometheus Alertmanager for the
# alert delivery test (LOOKOUT_REQUIRE_ALERTMANAGER=1) and without the
# OpenTelemetry Python SDK for its exporter's test
# (LOOKOUT_REQUIRE_PYTHON_OTEL=1).
set -euo pipefail
cd "$(dirname "$0")/.."

chromium="${LOOKOUT_CHROMIUM:-/usr/bin/chromium}"
missing=()
[ -x "$chromium" ] || missing+=(chromium)
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${missing[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "!! ${missing[*]} missing and this is not root: the tests that need them will be skipped" >&2
  fi
fi

# The OpenTelemetry Python SDK, whose OTLP/HTTP and OTLP/gRPC exporters
# tests run against the server.
if command -v python3 >/dev/null 2>&1 \
  && ! python3 -c "import opentelemetry.sdk.metrics, opentelemetry.exporter.otlp.proto.http.metric_exporter, opentelemetry.exporter.otlp.proto.grpc.metric_exporter" 2>/dev/null; then
  echo "== pip install the OpenTelemetry Python SDK"
  python3 -m pip install -q --disable-pip-version-check \
    "opentelemetry-sdk==1.45.2" "opentelemetry-exporter-otlp-proto-http==1.45.2" \
    "opentelemetry-exporter-otlp-proto-grpc==1.45.2" \
    || echo "!! could not install the OpenTelemetry Python SDK: its tests will be skipped" >&2
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
