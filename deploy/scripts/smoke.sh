#!/usr/bin/env bash
# Smoke check of a running axiom node, for use right after a deploy.
#
#   AXIOM_SERVER  base URL of the control plane (default http://127.0.0.1:8080)
#   AXIOM_TOKEN   optional bearer token; with it the check also reads /v1/settings
#
# Checks: /healthz and /readyz return 200, /metrics carries the latency gauges the SLO alerts
# read, /openapi.json is JSON, and an unauthenticated /v1 request is rejected with 401.
# Exits non-zero on the first failure, naming it.
set -euo pipefail
server="${AXIOM_SERVER:-http://127.0.0.1:8080}"
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }

[ "$(status "$server/healthz")" = 200 ] || fail "GET /healthz is not 200"
[ "$(status "$server/readyz")" = 200 ] || fail "GET /readyz is not 200 (node not ready)"
metrics=$(curl -fsS --max-time 5 "$server/metrics") || fail "GET /metrics failed"
for name in axiom_latency_p95_seconds axiom_latency_p99_seconds axiom_endpoint_max_millis axiom_decisions_total; do
  grep -q "^# TYPE $name " <<<"$metrics" || fail "/metrics has no $name"
done
openapi=$(curl -fsS --max-time 5 "$server/openapi.json") || fail "GET /openapi.json failed"
grep -q '"openapi"' <<<"$openapi" || fail "GET /openapi.json is not the OpenAPI document"
[ "$(status "$server/v1/incidents")" = 401 ] || fail "GET /v1/incidents without a token is not 401"
if [ -n "${AXIOM_TOKEN:-}" ]; then
  [ "$(status -H "Authorization: Bearer $AXIOM_TOKEN" "$server/v1/settings")" = 200 ] || fail "GET /v1/settings with AXIOM_TOKEN is not 200"
fi
echo "smoke: OK ($server)"
