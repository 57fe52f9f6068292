#!/usr/bin/env bash
# Quick end-to-end load check: `tools/call getOrder` through the gateway's HTTP tools API versus
# the example API directly, on loopback, with wrk. The gateway gets core 0; wrk and the example
# API share core 1. Usage: bench/quick-load.sh [duration, default 15s] [connections, default 32]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15s}
connections=${2:-32}
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --profile dist -q -p portcullis-cli --features jemalloc
bin=target/dist/portcullis

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export ORDERS_API_TOKEN=bench-upstream-token
export PORTCULLIS_DEMO_CLIENT_SECRET=bench-demo-secret
export PORTCULLIS_READONLY_CLIENT_SECRET=bench-readonly-secret
export PORTCULLIS_ASSISTANT_CLIENT_SECRET=bench-assistant-secret
export PORTCULLIS_DEMO_OPERATOR_SECRET=bench-operator-secret
export PORTCULLIS_DEMO_USER_PASSWORD=bench-user-password
export PORTCULLIS_LOG=warn

taskset -c 1 "$bin" example-api --listen 127.0.0.1:8081 &
taskset -c 0 "$bin" serve --config examples/quickstart/portcullis.yaml --data-dir "$work/data" &
for _ in $(seq 50); do
    curl -sf http://127.0.0.1:8080/healthz >/dev/null && curl -sf http://127.0.0.1:8081/health >/dev/null && break
    sleep 0.2
done

token=$(curl -sf -u demo-agent:$PORTCULLIS_DEMO_CLIENT_SECRET -d grant_type=client_credentials \
    http://127.0.0.1:8080/oauth/token | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')

cat > "$work/gateway.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"id": 42}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
cat > "$work/direct.lua" <<LUA
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer $ORDERS_API_TOKEN"
LUA

echo "== direct: GET /orders/42 on the example API"
taskset -c 1 wrk -t1 -c"$connections" -d"$duration" --latency -s "$work/direct.lua" http://127.0.0.1:8081/orders/42
echo "== gateway: POST /v1/tools/getOrder/call"
taskset -c 1 wrk -t1 -c"$connections" -d"$duration" --latency -s "$work/gateway.lua" http://127.0.0.1:8080/v1/tools/getOrder/call
"$bin" audit verify --data-dir "$work/data"
