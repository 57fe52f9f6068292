#!/usr/bin/env bash
# Instructions per call of the gateway, counted with callgrind (see docs/PERFORMANCE.md,
# "Instructions per call"): the release binary runs under `valgrind --tool=callgrind`; after a
# warm-up the counters are zeroed (`callgrind_control -z`), then exactly N calls are sent over
# a few keep-alive connections, the counters are dumped (`callgrind_control -d`), and the
# instructions of the whole process (every thread, user space only: kernel TCP and the fsync
# are not in them) are divided by N.
#
# Several binaries can be given; they are measured back to back on the same configuration,
# interleaved per scenario and round, so the comparison of two builds is one command:
#
#   bench/callgrind.sh --binary before=path/to/old/portcullis --binary after=path/to/new/portcullis
#
# The configuration and upstream are bench/run.sh's (bench/e2e): nginx serves the order, the
# gateway injects the upstream credential, audit `sync: full`. Scenarios: C (HTTP tools API),
# D1 (MCP tools/call, stateless 2026-07-28), G (D1 with every guard off). Each measurement is a
# fresh gateway process. The dumps are kept with --keep DIR for callgrind_annotate.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bench/callgrind.sh --binary [LABEL=]PATH [--binary ...] [options]
  --binary [LABEL=]PATH  a portcullis binary to measure (repeatable; LABEL defaults to PATH)
  --calls N              calls counted per measurement (default 2000)
  --warmup N             calls before the counters are zeroed (default 200)
  --connections N        keep-alive connections of the client (default 4)
  --scenarios LIST       comma-separated, from C, D1, G (default C,D1,G)
  --rounds N             measurements per binary and scenario (default 1)
  --port-base P          ports P (gateway) and P+1 (upstream nginx) on 127.0.0.1 (default 18180)
  --keep DIR             keep the callgrind dumps and logs in DIR
  --no-install           never install anything; fail if a tool is missing
EOF
}

die() {
    echo "callgrind.sh: $*" >&2
    exit 1
}

binaries=() calls=2000 warmup=200 connections=4 scenarios=C,D1,G rounds=1 port_base=18180
keep= do_install=1
while (($#)); do
    case $1 in
        --binary) binaries+=("${2:?}"); shift 2 ;;
        --calls) calls=${2:?}; shift 2 ;;
        --warmup) warmup=${2:?}; shift 2 ;;
        --connections) connections=${2:?}; shift 2 ;;
        --scenarios) scenarios=${2:?}; shift 2 ;;
        --rounds) rounds=${2:?}; shift 2 ;;
        --port-base) port_base=${2:?}; shift 2 ;;
        --keep) keep=${2:?}; shift 2 ;;
        --no-install) do_install=0; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option \`$1\`" ;;
    esac
done
((${#binaries[@]})) || { usage >&2; die "give at least one --binary"; }
for value in "$calls" "$warmup" "$connections" "$rounds" "$port_base"; do
    [[ $value =~ ^[0-9]+$ ]] || die "\`$value\` is not a whole number"
done
((calls >= 1 && rounds >= 1)) || die "--calls and --rounds must be at least 1"
IFS=, read -r -a scenario_list <<<"$scenarios"
for sc in "${scenario_list[@]}"; do
    [[ $sc =~ ^(C|D1|G)$ ]] || die "unknown scenario \`$sc\` (C, D1, G)"
done
labels=() paths=()
for spec in "${binaries[@]}"; do
    if [[ $spec == *=* ]]; then label=${spec%%=*} path=${spec#*=}; else label=$spec path=$spec; fi
    [[ -x $path ]] || die "not an executable: $path"
    labels+=("$label")
    paths+=("$(cd "$(dirname "$path")" && pwd)/$(basename "$path")")
done

here=$(cd "$(dirname "$0")" && pwd)
e2e=$here/e2e
export PATH="$PATH:/usr/sbin:/sbin"

missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v nginx >/dev/null || missing+=(nginx)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
    ((do_install)) || die "missing: ${missing[*]} (install them or drop --no-install)"
    sudo=
    ((EUID == 0)) || sudo=sudo
    echo "== installing ${missing[*]} (apt-get)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

gw_port=$port_base up_port=$((port_base + 1))
for port in "$gw_port" "$up_port"; do
    python3 -c 'import socket,sys; socket.create_server(("127.0.0.1", int(sys.argv[1]))).close()' "$port" 2>/dev/null ||
        die "port $port on 127.0.0.1 is in use; pick other ports with --port-base"
done

# --- processes: everything started is stopped on exit ---------------------------------------

started=()
work=

stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local kept=() p
    for p in "${started[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    started=("${kept[@]}")
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${started[@]}"; do stop_pid "$pid"; done
    if [[ -n $work && -z $keep ]]; then
        if ((status == 0)); then rm -rf "$work"; else echo "callgrind.sh: failed; logs kept in $work" >&2; fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n $keep ]]; then
    mkdir -p "$keep"
    work=$(cd "$keep" && pwd)
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-callgrind.XXXXXX")
fi
mkdir -p "$work/logs" "$work/dumps"

wait_http() {
    for _ in $(seq 1200); do
        kill -0 "$2" 2>/dev/null || return 1
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1") != 000 ]] && return 0
        sleep 0.2
    done
    return 1
}

random_hex() { python3 -c 'import secrets; print(secrets.token_hex(20))'; }
export BENCH_UPSTREAM_TOKEN BENCH_CLIENT_SECRET PORTCULLIS_LOG=warn
BENCH_UPSTREAM_TOKEN=$(random_hex)
BENCH_CLIENT_SECRET=$(random_hex)

render() {
    sed -e "s|@GATEWAY_PORT@|$gw_port|g" -e "s|@UPSTREAM_PORT@|$up_port|g" \
        -e "s|@BENCH_UPSTREAM_TOKEN@|$BENCH_UPSTREAM_TOKEN|g" "$1" >"$2"
}

# --- the upstream: bench/run.sh's nginx (scenario A) ----------------------------------------

prefix=$work/nginx-upstream
mkdir -p "$prefix/logs" "$prefix/tmp"
render "$e2e/nginx-upstream.conf" "$prefix/nginx.conf"
nginx -t -q -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" || die "nginx rejected its configuration"
nginx -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" >"$work/logs/upstream.log" 2>&1 &
started+=($!)
pid_upstream=$!
wait_http "http://127.0.0.1:$up_port/orders/42" "$pid_upstream" || die "nginx did not start"

# --- one measurement ------------------------------------------------------------------------

STATELESS_META='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"portcullis-bench","version":"1"}}'
D1_BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"getOrder","arguments":{"id":42},'"$STATELESS_META"'}}'

# config DIR SCENARIO: the bench configuration in DIR; G switches every guard off.
config() {
    mkdir -p "$1"
    render "$e2e/portcullis.yaml" "$1/portcullis.yaml"
    cp -r "$e2e/orders.openapi.yaml" "$e2e/policies" "$1/"
    if [[ $2 == G ]]; then
        cat >>"$1/portcullis.yaml" <<'EOF'

guards:
  inspect:
    mode: "off"
  dlp:
    enabled: false
  response_injection: "off"
EOF
    fi
}

# drive SCENARIO TOKEN COUNT
drive() {
    local gw=http://127.0.0.1:$gw_port
    case $1 in
        C)
            python3 "$e2e/drive.py" "$gw/v1/tools/getOrder/call" --count "$3" --connections "$connections" \
                --method POST --body '{"id":42}' --header 'Content-Type: application/json' \
                --header "Authorization: Bearer $2" --expect 'Espresso machine'
            ;;
        D1 | G)
            python3 "$e2e/drive.py" "$gw/mcp" --count "$3" --connections "$connections" \
                --method POST --body "$D1_BODY" --header 'Content-Type: application/json' \
                --header 'Accept: application/json, text/event-stream' --header "Authorization: Bearer $2" \
                --header 'MCP-Protocol-Version: 2026-07-28' --header 'Mcp-Method: tools/call' \
                --header 'Mcp-Name: getOrder' --expect '"isError":false'
            ;;
    esac
}

results=$work/results.tsv
printf 'binary\tscenario\tround\tinstructions\tcalls\tper_call\n' >"$results"

# measure LABEL PATH SCENARIO ROUND
measure() {
    local label=$1 bin=$2 sc=$3 round=$4 tag dir pid token before after dump ir
    tag=$label-$sc-r$round
    dir=$work/gw-$tag
    config "$dir" "$sc"
    "$bin" check --config "$dir/portcullis.yaml" >"$work/logs/$tag.check.log" 2>&1 ||
        die "$label: portcullis check failed: $(cat "$work/logs/$tag.check.log")"
    valgrind --tool=callgrind --callgrind-out-file="$work/dumps/$tag.out" \
        "$bin" serve --config "$dir/portcullis.yaml" >"$work/logs/$tag.log" 2>&1 &
    pid=$!
    started+=("$pid")
    wait_http "http://127.0.0.1:$gw_port/healthz" "$pid" || die "$label did not start: $(tail -20 "$work/logs/$tag.log")"
    token=$(curl -sS --fail -u "bench-agent:$BENCH_CLIENT_SECRET" -d grant_type=client_credentials \
        "http://127.0.0.1:$gw_port/oauth/token" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') || die "$label: no token"
    ((warmup == 0)) || drive "$sc" "$token" "$warmup" >/dev/null || die "$label $sc: warm-up failed"
    sleep 1
    before=$(python3 "$e2e/bench.py" audit-seq "$dir/data/audit.db")
    callgrind_control -z "$pid" >>"$work/logs/$tag.control.log" 2>&1 || die "callgrind_control -z failed"
    drive "$sc" "$token" "$calls" >/dev/null || die "$label $sc: the measured calls failed"
    # Let the audit writer finish the last records before the counters are read.
    sleep 1
    callgrind_control -d "$pid" >>"$work/logs/$tag.control.log" 2>&1 || die "callgrind_control -d failed"
    after=$(python3 "$e2e/bench.py" audit-seq "$dir/data/audit.db")
    stop_pid "$pid"
    ((after - before == calls)) || die "$label $sc: $((after - before)) audit records for $calls calls"
    # The first dump of a process is part 1 (the one `callgrind_control -d` asked for).
    dump=$work/dumps/$tag.out.1
    [[ -f $dump ]] || die "$label $sc: no callgrind dump $dump"
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
    [[ $ir =~ ^[0-9]+$ ]] || die "$label $sc: no instruction total in $dump"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$sc" "$round" "$ir" "$calls" $((ir / calls)) >>"$results"
    printf '   %-10s %-3s round %s: %s instructions / %s calls = %s per call (%s)\n' \
        "$label" "$sc" "$round" "$ir" "$calls" $((ir / calls)) "$(basename "$dump")"
}

echo "== callgrind: ${labels[*]} × ${scenario_list[*]} × $rounds round(s); $warmup warm-up calls, then $calls counted, $connections connections"
for round in $(seq "$rounds"); do
    for sc in "${scenario_list[@]}"; do
        for i in "${!labels[@]}"; do measure "${labels[$i]}" "${paths[$i]}" "$sc" "$round"; done
    done
done

echo
echo "== instructions per call (median over rounds; min–max)"
python3 - "$results" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
labels = list(dict.fromkeys(r["binary"] for r in rows))
scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
print("| binary | " + " | ".join(scenarios) + " |")
print("|---|" + "---:|" * len(scenarios))
for label in labels:
    cells = []
    for sc in scenarios:
        v = [int(r["per_call"]) for r in rows if r["binary"] == label and r["scenario"] == sc]
        k = lambda x: f"{x / 1000:.1f}k"
        cells.append(k(statistics.median(v)) + (f" ({k(min(v))}–{k(max(v))})" if len(v) > 1 else ""))
    print(f"| {label} | " + " | ".join(cells) + " |")
PY
[[ -n $keep ]] && echo "dumps and logs in $work"
exit 0
