#!/usr/bin/env bash
# Limits shared through Redis: throughput of one gateway replica against two sharing one limit,
# and the latency Redis adds per call. Writes bench/results/replicas.md. See bench/README.md.
#   bench/replicas.sh [--trials N] [--duration SECONDS] [--connections N] [--cpus SUT,LOAD]
#                     [--redis-url URL] [--port-base P] [--output FILE]
# Needs nginx, wrk, redis-server and redis-cli (installed with apt-get when missing, unless
# --no-install is given first) and a Redis on the URL (default redis://127.0.0.1:6379/; one is
# started without persistence when nothing answers there).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"
install=1
if [[ ${1:-} == --no-install ]]; then install=0; shift; fi
redis_url=redis://127.0.0.1:6379/
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    [[ ${args[i]} == --redis-url ]] && redis_url=${args[i + 1]:-$redis_url}
done

missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v taskset >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
    ((install)) || { echo "replicas.sh: missing ${missing[*]}" >&2; exit 1; }
    sudo=
    ((EUID == 0)) || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
(($(nproc) >= 2)) || { echo "replicas.sh: needs at least 2 CPUs" >&2; exit 1; }

hostport=${redis_url#*://}
hostport=${hostport%%/*}
host=${hostport%:*} port=${hostport##*:}
if ! redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
    echo "== starting redis-server on $host:$port (no persistence)"
    redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no >/dev/null
    for _ in $(seq 50); do
        redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
fi

echo "== building portcullis (dist profile: what ships)"
cargo build --profile dist --quiet --manifest-path "$root/Cargo.toml" -p portcullis-cli --features jemalloc
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null) ]] && commit+=" (with uncommitted changes)"
versions="$( (wrk -v 2>&1 || true) | head -n1 | cut -d' ' -f1,2); $(nginx -v 2>&1 | sed 's/.*: //'); $(redis-server --version | cut -d' ' -f1-3)"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
ulimit -n 8192 2>/dev/null || true
exec python3 "$here/e2e/replicas.py" --bin "$root/target/dist/portcullis" --commit "$commit" \
    --versions "$versions" --cpu-model "${cpu:-unknown CPU}" "$@"
