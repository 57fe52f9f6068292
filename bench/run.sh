#!/usr/bin/env bash
# End-to-end load benchmark of Portcullis against nginx baselines, on loopback.
#
# Scenarios, interleaved across trials (A B C D1 D2, A B C D1 D2, ...):
#   A   nginx serving `GET /orders/42` directly (the upstream; checks the bearer token)
#   B   nginx as a plain reverse proxy in front of A
#   C   Portcullis HTTP tools API: POST /v1/tools/getOrder/call {"id":42}
#   D1  Portcullis MCP tools/call, stateless (protocol 2026-07-28)
#   D2  Portcullis MCP tools/call in a session (protocol 2025-11-25, SSE answers)
#   G   D1 against a second gateway with every guard off (the cost of the guards)
# Closed loop with wrk, open loop at fixed rates with oha, audit completeness, memory.
# The report goes to bench/results/latest.md (and is printed). See bench/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bench/run.sh [options]
  --trials N            closed-loop trials, each runs every scenario once (default 5)
  --duration D          measured time per run, e.g. 10s or 1m (default 10s)
  --warmup D            unmeasured load before each run (default 3s)
  --connections N       closed-loop connections (default 32)
  --open-connections N  open-loop connections (default 64)
  --rates LIST          open-loop offered rates in % of each scenario's closed-loop maximum
                        (default 25,50,75; 50 is always included)
  --open-trials N       open-loop trials (default 3)
  --scenarios LIST      closed-loop scenarios, comma-separated (default A,B,C,D1,D2,G)
  --no-open-loop        skip the open-loop runs
  --no-memory           skip the memory measurements
  --no-install          never install anything; fail if a tool is missing
  --port-base P         ports P (gateway), P+1 (upstream nginx), P+2 (proxy nginx),
                        P+3 (gateway with guards off), P+10 (memory runs) on 127.0.0.1
                        (default 18080)
  --cpus SUT,LOAD       CPU of the process under test and of the load generator (default 0,1)
  --note TEXT           a line for the report (e.g. what else ran on the machine)
  --binary PATH         measure this portcullis binary instead of building the workspace's
                        (e.g. a build of another commit; bench/ab.sh alternates two)
  --output FILE         report path (default bench/results/latest.md; raw results next to it
                        with the extension .jsonl)
EOF
}

die() {
    echo "run.sh: $*" >&2
    exit 1
}

trials=5 duration=10s warmup=3s connections=32 open_connections=64 rates=25,50,75
open_trials=3 do_open=1 do_memory=1 do_install=1 port_base=18080 sut_cpu=0 load_cpu=1
output= note= scenarios=A,B,C,D1,D2,G binary=
while (($#)); do
    case $1 in
        --trials) trials=${2:?}; shift 2 ;;
        --duration) duration=${2:?}; shift 2 ;;
        --warmup) warmup=${2:?}; shift 2 ;;
        --connections) connections=${2:?}; shift 2 ;;
        --open-connections) open_connections=${2:?}; shift 2 ;;
        --rates) rates=${2:?}; shift 2 ;;
        --open-trials) open_trials=${2:?}; shift 2 ;;
        --scenarios) scenarios=${2:?}; shift 2 ;;
        --no-open-loop) do_open=0; shift ;;
        --no-memory) do_memory=0; shift ;;
        --no-install) do_install=0; shift ;;
        --port-base) port_base=${2:?}; shift 2 ;;
        --cpus) sut_cpu=${2%%,*}; load_cpu=${2##*,}; shift 2 ;;
        --output) output=${2:?}; shift 2 ;;
        --note) note=${2:?}; shift 2 ;;
        --binary) binary=${2:?}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option \`$1\`" ;;
    esac
done

# Durations as whole seconds, written `Ns` for both wrk and oha.
seconds() {
    case $1 in
        *m) echo $((${1%m} * 60)) ;;
        *s) echo "${1%s}" ;;
        *) echo "$1" ;;
    esac
}
for value in "$trials" "$open_trials" "$connections" "$open_connections" "$port_base" \
    "$sut_cpu" "$load_cpu" "$(seconds "$duration")" "$(seconds "$warmup")"; do
    [[ $value =~ ^[0-9]+$ ]] || die "\`$value\` is not a whole number (durations: Ns or Nm)"
done
duration="$(seconds "$duration")s"
warmup="$(seconds "$warmup")s"
((trials >= 1)) || die "--trials must be at least 1"
IFS=, read -r -a rate_list <<<"$rates"
[[ " ${rate_list[*]} " == *" 50 "* ]] || rate_list+=(50)
for pct in "${rate_list[@]}"; do
    [[ $pct =~ ^[0-9]+$ ]] && ((pct > 0 && pct < 100)) || die "rate \`$pct\` is not a percentage"
done
IFS=, read -r -a scenario_list <<<"$scenarios"
for sc in "${scenario_list[@]}"; do
    [[ $sc =~ ^(A|B|C|D1|D2|G)$ ]] || die "unknown scenario \`$sc\` (A, B, C, D1, D2, G)"
done
has_scenario() { [[ " ${scenario_list[*]} " == *" $1 "* ]]; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
e2e=$here/e2e
output=${output:-$here/results/latest.md}
bench() { python3 "$e2e/bench.py" "$@"; }

# --- processes: everything started is stopped on exit ---------------------------------------

started=()
work=

stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # Forget it, so a later cleanup never signals a recycled process id.
    local kept=() p
    for p in "${started[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    started=("${kept[@]}")
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${started[@]}"; do stop_pid "$pid"; done
    if [[ -n $work ]]; then
        if ((status == 0)); then
            rm -rf "$work"
        else
            echo "run.sh: failed; logs and raw results kept in $work" >&2
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools ----------------------------------------------------------------------------------

OHA_VERSION=1.16.0
export PATH="$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin"

ensure_tools() {
    local missing=()
    command -v nginx >/dev/null || missing+=(nginx)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v curl >/dev/null || missing+=(curl)
    command -v python3 >/dev/null || missing+=(python3)
    command -v taskset >/dev/null || missing+=(util-linux)
    if ((${#missing[@]})); then
        ((do_install)) || die "missing: ${missing[*]} (install them or drop --no-install)"
        local sudo=
        ((EUID == 0)) || sudo=sudo
        echo "== installing ${missing[*]} (apt-get)"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
    fi
    if ((do_open)) && ! command -v oha >/dev/null; then
        ((do_install)) || die "missing: oha (cargo install --locked oha) or use --no-open-loop"
        echo "== installing oha $OHA_VERSION (cargo install --locked)"
        cargo install --locked --quiet oha --version "$OHA_VERSION"
    fi
    [[ -n $binary ]] || command -v cargo >/dev/null || die "cargo is needed to build portcullis (https://rustup.rs)"
}
ensure_tools
(($(nproc) >= 2)) || die "needs at least 2 CPUs (one for the process under test, one for the load)"

versions="$( (wrk -v 2>&1 || true) | head -n1 | cut -d' ' -f1,2); $(nginx -v 2>&1 | sed 's/.*: //')"
((do_open)) && versions+="; $(oha --version)"
versions+="; Python $(python3 -c 'import platform; print(platform.python_version())')"

for port in "$port_base" $((port_base + 1)) $((port_base + 2)) $((port_base + 3)) $((port_base + 10)); do
    python3 -c 'import socket,sys; socket.create_server(("127.0.0.1", int(sys.argv[1]))).close()' "$port" 2>/dev/null ||
        die "port $port on 127.0.0.1 is in use; pick other ports with --port-base"
done
gw_port=$port_base up_port=$((port_base + 1)) proxy_port=$((port_base + 2)) mem_port=$((port_base + 10))
off_port=$((port_base + 3))

if [[ -n $binary ]]; then
    [[ -x $binary ]] || die "not an executable: $binary"
    bin=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
    commit="binary $(basename "$binary"), given with --binary"
else
    echo "== building portcullis (dist profile: what ships)"
    cargo build --profile dist --quiet --manifest-path "$root/Cargo.toml" -p portcullis-cli --features jemalloc
    bin=$root/target/dist/portcullis
    commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n $(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
        commit+=" (with uncommitted changes)"
    fi
fi

ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench.XXXXXX")
mkdir -p "$work/logs" "$work/runs"
results=$work/results.jsonl
: >"$results"

# start NAME CPU COMMAND...: runs COMMAND pinned to CPU in the background; sets pid_NAME.
start() {
    local name=$1 cpu=$2
    shift 2
    taskset -c "$cpu" "$@" >"$work/logs/$name.log" 2>&1 &
    started+=($!)
    printf -v "pid_$name" %s $!
}

# wait_http URL PID: waits until URL answers (any status) while PID lives.
wait_http() {
    for _ in $(seq 150); do
        kill -0 "$2" 2>/dev/null || return 1
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1") != 000 ]] && return 0
        sleep 0.2
    done
    return 1
}

# The master and worker processes of an nginx.
nginx_pids() {
    echo "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null)
}

# pin CPU PID...: moves every thread of these processes to CPU.
pin() {
    local cpu=$1
    shift
    for pid in "$@"; do taskset -a -p -c "$cpu" "$pid" >/dev/null; done
}

render() {
    sed -e "s|@GATEWAY_PORT@|$3|g" -e "s|@UPSTREAM_PORT@|$up_port|g" \
        -e "s|@PROXY_PORT@|$proxy_port|g" -e "s|@BENCH_UPSTREAM_TOKEN@|$BENCH_UPSTREAM_TOKEN|g" \
        "$1" >"$2"
}

random_hex() { python3 -c 'import secrets; print(secrets.token_hex(20))'; }
export BENCH_UPSTREAM_TOKEN BENCH_CLIENT_SECRET PORTCULLIS_LOG=warn
BENCH_UPSTREAM_TOKEN=$(random_hex)
BENCH_CLIENT_SECRET=$(random_hex)

# --- start nginx (upstream and proxy) and the gateway ---------------------------------------

for name in upstream proxy; do
    prefix=$work/nginx-$name
    mkdir -p "$prefix/logs" "$prefix/tmp"
    render "$e2e/nginx-$name.conf" "$prefix/nginx.conf" "$gw_port"
    nginx -t -q -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" ||
        die "nginx rejected $prefix/nginx.conf"
done
start upstream "$load_cpu" nginx -p "$work/nginx-upstream/" -c "$work/nginx-upstream/nginx.conf" \
    -e "$work/nginx-upstream/logs/error.log"
start proxy "$sut_cpu" nginx -p "$work/nginx-proxy/" -c "$work/nginx-proxy/nginx.conf" \
    -e "$work/nginx-proxy/logs/error.log"

gw_dir=$work/gateway
mkdir -p "$gw_dir"
render "$e2e/portcullis.yaml" "$gw_dir/portcullis.yaml" "$gw_port"
cp -r "$e2e/orders.openapi.yaml" "$e2e/policies" "$gw_dir/"
"$bin" check --config "$gw_dir/portcullis.yaml" >"$work/logs/check.log" 2>&1 ||
    die "portcullis check failed: $(cat "$work/logs/check.log")"
start gateway "$sut_cpu" "$bin" serve --config "$gw_dir/portcullis.yaml"
audit_db=$gw_dir/data/audit.db

# G: the same gateway and configuration with every guard switched off, on its own port and
# data directory. It idles on the gateway's CPU while the other scenarios run.
off_dir=$work/gateway-guards-off
mkdir -p "$off_dir"
render "$e2e/portcullis.yaml" "$off_dir/portcullis.yaml" "$off_port"
cat >>"$off_dir/portcullis.yaml" <<'EOF'

guards:
  inspect:
    mode: "off"
  dlp:
    enabled: false
  response_injection: "off"
EOF
cp -r "$e2e/orders.openapi.yaml" "$e2e/policies" "$off_dir/"
"$bin" check --config "$off_dir/portcullis.yaml" >"$work/logs/check-off.log" 2>&1 ||
    die "portcullis check (guards off) failed: $(cat "$work/logs/check-off.log")"
start gateway_off "$sut_cpu" "$bin" serve --config "$off_dir/portcullis.yaml"

up_url=http://127.0.0.1:$up_port
proxy_url=http://127.0.0.1:$proxy_port
gw_url=http://127.0.0.1:$gw_port
off_url=http://127.0.0.1:$off_port
wait_http "$up_url/orders/42" "$pid_upstream" || die "upstream nginx did not start: $(cat "$work/logs/upstream.log")"
wait_http "$proxy_url/orders/42" "$pid_proxy" || die "proxy nginx did not start: $(cat "$work/logs/proxy.log")"
wait_http "$gw_url/healthz" "$pid_gateway" || die "portcullis did not start: $(cat "$work/logs/gateway.log")"
wait_http "$off_url/healthz" "$pid_gateway_off" || die "portcullis (guards off) did not start: $(cat "$work/logs/gateway_off.log")"
upstream_pids=$(nginx_pids "$pid_upstream")
proxy_pids=$(nginx_pids "$pid_proxy")
[[ $upstream_pids == *" "* && $proxy_pids == *" "* ]] || die "cannot find the nginx worker processes"

# --- the requests of each scenario ----------------------------------------------------------

token() {
    curl -sS --fail -u "bench-agent:$BENCH_CLIENT_SECRET" -d grant_type=client_credentials \
        "${1:-$gw_url}/oauth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

STATELESS_META='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"portcullis-bench","version":"1"}}'
JSON=$'Content-Type: application/json'
MCP_ACCEPT=$'Accept: application/json, text/event-stream'
session=

# open_session TOKEN: initialize + notifications/initialized (2025-11-25); sets `session`.
open_session() {
    local headers=$work/init.headers
    curl -sS --fail -D "$headers" -o "$work/init.body" -H "Authorization: Bearer $1" -H "$JSON" \
        -H "$MCP_ACCEPT" -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"portcullis-bench","version":"1"}}}' \
        "$gw_url/mcp" || die "MCP initialize failed"
    session=$(tr -d '\r' <"$headers" | awk -F': ' 'tolower($1) == "mcp-session-id" {print $2}')
    [[ -n $session ]] || die "MCP initialize returned no Mcp-Session-Id: $(cat "$headers")"
    local status
    status=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" -H "$JSON" \
        -H "$MCP_ACCEPT" -H "Mcp-Session-Id: $session" -H "MCP-Protocol-Version: 2025-11-25" \
        -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$gw_url/mcp")
    [[ $status == 202 ]] || die "notifications/initialized answered $status, not 202"
}

close_session() {
    [[ -n $session ]] || return 0
    curl -sS -o /dev/null -X DELETE -H "Authorization: Bearer $1" -H "Mcp-Session-Id: $session" \
        -H "MCP-Protocol-Version: 2025-11-25" "$gw_url/mcp" || true
    session=
}

# prepare SCENARIO: sets req_url, req_method, req_body, req_headers (lines), sut_pids, gateway
# (with gw_pid and gw_audit, the gateway under test and its audit database), and pins the
# processes for it.
prepare() {
    req_body= gateway=0 req_token= gw_pid=$pid_gateway gw_audit=$audit_db
    case $1 in
        A | B)
            req_method=GET
            req_headers="Authorization: Bearer $BENCH_UPSTREAM_TOKEN"
            if [[ $1 == A ]]; then req_url=$up_url/orders/42; else req_url=$proxy_url/orders/42; fi
            ;;
        C | D1 | D2)
            gateway=1
            req_token=$(token) || die "no access token from $gw_url/oauth/token"
            req_method=POST
            ;;&
        G)
            gateway=1 gw_pid=$pid_gateway_off gw_audit=$off_dir/data/audit.db
            req_token=$(token "$off_url") || die "no access token from $off_url/oauth/token"
            req_method=POST
            ;;&
        C)
            req_url=$gw_url/v1/tools/getOrder/call
            req_body='{"id":42}'
            req_headers="$JSON"$'\n'"Authorization: Bearer $req_token"
            ;;
        D1 | G)
            req_url=$gw_url/mcp
            [[ $1 == G ]] && req_url=$off_url/mcp
            req_body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"getOrder","arguments":{"id":42},'"$STATELESS_META"'}}'
            req_headers="$JSON"$'\n'"$MCP_ACCEPT"$'\n'"Authorization: Bearer $req_token"$'\n'"MCP-Protocol-Version: 2026-07-28"$'\n'"Mcp-Method: tools/call"$'\n'"Mcp-Name: getOrder"
            ;;
        D2)
            open_session "$req_token"
            req_url=$gw_url/mcp
            req_body='{"jsonrpc":"2.0","id":__RPCID__,"method":"tools/call","params":{"name":"getOrder","arguments":{"id":42}}}'
            req_headers="$JSON"$'\n'"$MCP_ACCEPT"$'\n'"Authorization: Bearer $req_token"$'\n'"Mcp-Session-Id: $session"$'\n'"MCP-Protocol-Version: 2025-11-25"
            ;;
    esac
    # Pinning: in A the upstream nginx is the process under test; otherwise it shares the
    # load generator's CPU and the proxy or the gateway has the other one to itself.
    case $1 in
        A) sut_pids=$upstream_pids; pin "$sut_cpu" $upstream_pids ;;
        B) sut_pids=$proxy_pids; pin "$load_cpu" $upstream_pids ;;
        *) sut_pids=$gw_pid; pin "$load_cpu" $upstream_pids ;;
    esac
    pin "$sut_cpu" $proxy_pids "$pid_gateway" "$pid_gateway_off"
}

finish() {
    [[ $1 == D2 ]] && close_session "$req_token"
    return 0
}

# curl_scenario: one request of the prepared scenario with curl; prints status, type, body.
curl_scenario() {
    local args=(-sS --max-time 5 -o "$work/probe.body" -D "$work/probe.headers" -X "$req_method")
    local line body=${req_body//__RPCID__/7}
    while IFS= read -r line; do args+=(-H "$line"); done <<<"$req_headers"
    [[ -n $body ]] && args+=(--data-raw "$body")
    curl "${args[@]}" -w '%{http_code} %{content_type} %{time_total}\n' "$req_url"
}

# --- verification: every path answers what we expect before anything is loaded -------------

echo "== verifying each path once with curl"
verify() {
    local sc=$1 out status ctype
    prepare "$sc"
    out=$(curl_scenario) || die "$sc: curl failed"
    read -r status ctype _ <<<"$out"
    echo "   $sc: HTTP $out, $(wc -c <"$work/probe.body") bytes"
    [[ $status == 200 ]] || die "$sc answered $status: $(head -c 500 "$work/probe.body")"
    case $sc in
        A | B)
            grep -q '"card_number"' "$work/probe.body" || die "$sc: not the order: $(head -c 300 "$work/probe.body")"
            ;;
        C)
            grep -q 'Espresso machine' "$work/probe.body" || die "C: no order in the answer: $(head -c 500 "$work/probe.body")"
            ;;
        D1 | D2 | G)
            bench mcp-answer <"$work/probe.body" >"$work/probe.answer" || die "$sc: no JSON-RPC answer"
            python3 - "$work/probe.answer" "$sc" <<'PY' || die "$sc: the tool call did not succeed"
import json, sys
answer = json.load(open(sys.argv[1]))
result = answer.get("result") or {}
text = json.dumps(result)
ok = result.get("isError") is False and "Espresso machine" in text
print(f"   {sys.argv[2]}: JSON-RPC id {answer.get('id')}, isError={result.get('isError')}, "
      f"order in the result: {'Espresso machine' in text}")
sys.exit(0 if ok else 1)
PY
            ;;
    esac
    [[ $sc == D2 ]] && echo "   D2 answer content type: $ctype (the stream closed after the answer, in ${out##* } s)"
    finish "$sc"
}
# The upstream refuses requests without the injected credential.
status=$(curl -s -o /dev/null -w '%{http_code}' "$up_url/orders/42")
[[ $status == 401 ]] || die "the upstream answered $status without a token, not 401"
echo "   upstream without the token: HTTP 401 (credential injection is exercised)"
for sc in "${scenario_list[@]}"; do verify "$sc"; done

# --- closed loop ----------------------------------------------------------------------------

# load_wrk OUT DURATION CONNECTIONS: wrk on the load CPU with the prepared request.
load_wrk() {
    BENCH_OUT=$1 BENCH_METHOD=$req_method BENCH_BODY=$req_body BENCH_HEADERS=$req_headers \
        taskset -c "$load_cpu" wrk -t1 -c"$3" -d"$2" --timeout 5s -s "$e2e/wrk.lua" "$req_url" \
        >>"$work/logs/wrk.log" 2>&1 || die "wrk failed (see $work/logs/wrk.log)"
}

# load_oha OUT DURATION RATE: oha on the load CPU, open loop at RATE with latency correction.
load_oha() {
    local args=(-z "$2" -c "$open_connections" -q "$3" --latency-correction --no-tui
        --output-format json -o "$1" --worker-threads 1 -m "$req_method")
    local line
    while IFS= read -r line; do args+=(-H "$line"); done <<<"$req_headers"
    [[ -n $req_body ]] && args+=(-d "$req_body")
    taskset -c "$load_cpu" oha "${args[@]}" "$req_url" >>"$work/logs/oha.log" 2>&1 ||
        die "oha failed (see $work/logs/oha.log)"
}

# measure KIND SCENARIO TRIAL [RATE PCT OF]: warm-up, then one measured run and its record.
measure() {
    local kind=$1 sc=$2 trial=$3 rate=${4:-} pct=${5:-} of=${6:-}
    local tag=$kind-$sc-t$trial${pct:+-$pct-of-$of} cpu_before cpu_after seq=0 extra=()
    prepare "$sc"
    if [[ $kind == closed ]]; then
        load_wrk "$work/runs/$tag.warmup.json" "$warmup" "$connections"
    else
        load_oha "$work/runs/$tag.warmup.json" "$warmup" "$rate"
    fi
    sleep 0.5
    if ((gateway)); then
        seq=$(bench audit-seq "$gw_audit")
        bench reset-hwm "$gw_pid"
        extra=(--audit-db "$gw_audit" --audit-seq "$seq" --mem-pid "$gw_pid")
    fi
    cpu_before=$(bench cpu $sut_pids)
    if [[ $kind == closed ]]; then
        load_wrk "$work/runs/$tag.json" "$duration" "$connections"
        extra+=(--tool wrk --connections "$connections")
    else
        load_oha "$work/runs/$tag.json" "$duration" "$rate"
        extra+=(--tool oha --connections "$open_connections" --rate "$rate" --rate-pct "$pct" --rate-of "$of")
    fi
    cpu_after=$(bench cpu $sut_pids)
    # Let calls in flight when the load stopped finish and reach the audit log.
    sleep 0.5
    bench record --out "$results" --kind "$kind" --scenario "$sc" --trial "$trial" \
        --result "$work/runs/$tag.json" --cpu-before "$cpu_before" --cpu-after "$cpu_after" \
        "${extra[@]}" || die "run $tag is not trustworthy (see FAIL above)"
    finish "$sc"
}

# How busy the machine is with nothing of ours running: other processes share these CPUs.
busy_before=$(python3 "$e2e/bench.py" busy 2)
echo "== CPU busy with other work before the runs: $busy_before"
echo "== closed loop: $trials trial(s) × ${scenario_list[*]} × $duration (warm-up $warmup), $connections connections"
for trial in $(seq "$trials"); do
    for sc in "${scenario_list[@]}"; do measure closed "$sc" "$trial"; done
done

# --- open loop ------------------------------------------------------------------------------

open_note=
if ((do_open)); then
    declare -A max_rps
    open_list=()
    for sc in A C D1; do has_scenario "$sc" && open_list+=("$sc"); done
    has_scenario A || die "the open loop needs scenario A (or use --no-open-loop)"
    for sc in "${open_list[@]}"; do max_rps[$sc]=$(bench median --results "$results" --scenario "$sc"); done
    rate_of() { python3 -c 'import sys; print(max(1, round(float(sys.argv[1]) * int(sys.argv[2]) / 100)))' "$1" "$2"; }
    echo "== open loop: $open_trials trial(s) at ${rate_list[*]} % of each maximum, $open_connections connections"
    for trial in $(seq "$open_trials"); do
        for pct in "${rate_list[@]}"; do
            for sc in "${open_list[@]}"; do
                measure open "$sc" "$trial" "$(rate_of "${max_rps[$sc]}" "$pct")" "$pct" "$sc"
                # The direct path at the gateway's rate, right after it: the p99 it adds.
                if [[ $pct == 50 && ($sc == C || $sc == D1) ]]; then
                    measure open A "$trial" "$(rate_of "${max_rps[$sc]}" 50)" 50 "$sc"
                fi
            done
        done
    done
    open_note="D2 (MCP session) is measured closed loop only: concurrent requests of one session need distinct JSON-RPC ids (the server routes each answer by id), which wrk's script provides and oha, sending one fixed body, cannot."
fi

# --- memory ---------------------------------------------------------------------------------

if ((do_memory)); then
    echo "== memory: idle with 1, 100 and 1000 tools; 1000 idle connections"
    for n in 1 100 1000; do
        dir=$work/mem-$n
        python3 "$e2e/gen_tools.py" "$n" "$dir" --gateway-port "$mem_port" --upstream-port "$up_port"
        loaded=$("$bin" check --config "$dir/portcullis.yaml" 2>/dev/null | sed -n 's/.*: ok: \([0-9]*\) tools.*/\1/p')
        [[ $loaded == "$n" ]] || die "the generated configuration has ${loaded:-no} tools, not $n"
        start "mem$n" "$sut_cpu" "$bin" serve --config "$dir/portcullis.yaml"
        pid_var=pid_mem$n
        wait_http "http://127.0.0.1:$mem_port/healthz" "${!pid_var}" || die "portcullis with $n tools did not start"
        sleep 3
        bench memory --out "$results" --label "idle, $n tool(s) loaded" --tools "$n" --pid "${!pid_var}"
        stop_pid "${!pid_var}"
    done

    dir=$work/mem-conns
    mkdir -p "$dir"
    render "$e2e/portcullis.yaml" "$dir/portcullis.yaml" "$mem_port"
    cp -r "$e2e/orders.openapi.yaml" "$e2e/policies" "$dir/"
    start memconns "$sut_cpu" "$bin" serve --config "$dir/portcullis.yaml"
    wait_http "http://127.0.0.1:$mem_port/healthz" "$pid_memconns" || die "portcullis did not start"
    sleep 3
    bench memory --out "$results" --label "idle, bench configuration (1 tool), no connections" --tools 1 --pid "$pid_memconns"
    read -r baseline _ < <(bench mem "$pid_memconns")
    for mode in silent partial; do
        start "hold$mode" "$load_cpu" python3 "$e2e/hold_conns.py" 127.0.0.1 "$mem_port" 1000 "$mode" 60
        pid_var=pid_hold$mode
        for _ in $(seq 300); do
            grep -q '^ready' "$work/logs/hold$mode.log" 2>/dev/null && break
            kill -0 "${!pid_var}" 2>/dev/null || die "hold_conns.py failed: $(cat "$work/logs/hold$mode.log")"
            sleep 0.1
        done
        grep -q '^ready 1000' "$work/logs/hold$mode.log" || die "could not open 1000 connections"
        sleep 3
        read -r rss hwm < <(bench mem "$pid_memconns")
        stop_pid "${!pid_var}"
        open=$(sed -n 's/^open //p' "$work/logs/hold$mode.log")
        if [[ $mode == silent ]]; then what="sending nothing"; else what="each with a partial request"; fi
        bench memory --out "$results" --label "1000 idle connections, $what" --tools 1 \
            --pid "$pid_memconns" --connections 1000 --open-at-end "${open:-0}" \
            --baseline-rss "$baseline" --rss "$rss" --hwm "$hwm"
        sleep 2
    done
    stop_pid "$pid_memconns"
fi

# --- report ---------------------------------------------------------------------------------

audit_verify=$("$bin" audit verify --data-dir "$gw_dir/data" 2>/dev/null | sed "s|^$gw_dir/data/||") ||
    die "audit verify failed: $audit_verify"
if has_scenario G; then
    off_verify=$("$bin" audit verify --data-dir "$off_dir/data" 2>/dev/null | sed "s|^$off_dir/data/||") ||
        die "audit verify (guards off) failed: $off_verify"
    audit_verify+="; guards off: $off_verify"
fi
meta=$(python3 -c 'import json, sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' \
    commit "$commit" versions "$versions" trials "$trials" duration "$duration" warmup "$warmup" \
    connections "$connections" rates "${rate_list[*]}" \
    open_trials "$( ((do_open)) && echo "$open_trials" || echo 0)" sut_cpu "$sut_cpu" \
    load_cpu "$load_cpu" open_note "$open_note" audit_verify "\`portcullis audit verify\`: $audit_verify." \
    note "$note" busy_before "$busy_before")
mkdir -p "$(dirname "$output")"
cp "$results" "${output%.md}.jsonl"
echo
bench report --results "$results" --meta "$meta" --out "$output"
echo
echo "report written to $output"
