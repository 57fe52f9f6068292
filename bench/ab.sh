#!/usr/bin/env bash
# Throughput of two (or more) portcullis binaries in one run: bench/run.sh is run once per
# binary and round with `--binary`, the order alternating from round to round (A B, B A, A B,
# ...) so that slow drift of the machine falls on both alike. Options after `--` go to every
# run.sh invocation. At the end, per binary and scenario: the median of the closed-loop
# throughput and CPU per call over every trial of every round, with the range.
#
#   bench/ab.sh --binary before=old/portcullis --binary after=new/portcullis --rounds 3 -- \
#       --trials 3 --duration 5s --warmup 2s --no-open-loop --no-memory --scenarios C,D1
#
# Each run's report and raw results are kept in --out DIR (default bench/results/ab).
set -euo pipefail

die() {
    echo "ab.sh: $*" >&2
    exit 1
}

binaries=() rounds=3 out=
while (($#)); do
    case $1 in
        --binary) binaries+=("${2:?}"); shift 2 ;;
        --rounds) rounds=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --) shift; break ;;
        -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option \`$1\` (run.sh options go after --)" ;;
    esac
done
((${#binaries[@]} >= 1)) || die "give --binary LABEL=PATH at least once"
[[ $rounds =~ ^[0-9]+$ ]] && ((rounds >= 1)) || die "--rounds must be a whole number ≥ 1"

here=$(cd "$(dirname "$0")" && pwd)
out=${out:-$here/results/ab}
mkdir -p "$out"
labels=() paths=()
for spec in "${binaries[@]}"; do
    [[ $spec == *=* ]] || die "--binary takes LABEL=PATH"
    labels+=("${spec%%=*}")
    paths+=("${spec#*=}")
done

for round in $(seq "$rounds"); do
    order=("${!labels[@]}")
    if ((round % 2 == 0)); then
        reversed=()
        for ((i = ${#order[@]} - 1; i >= 0; i--)); do reversed+=("${order[$i]}"); done
        order=("${reversed[@]}")
    fi
    for i in "${order[@]}"; do
        echo "== round $round: ${labels[$i]}"
        "$here/run.sh" --binary "${paths[$i]}" --output "$out/${labels[$i]}-r$round.md" \
            --note "bench/ab.sh: ${labels[$i]}, round $round of $rounds" "$@" |
            grep -E '^(closed|open|==|   )' || true
        [[ -s $out/${labels[$i]}-r$round.jsonl ]] || die "run.sh failed for ${labels[$i]} in round $round"
    done
done

echo
python3 - "$out" "$rounds" "${labels[@]}" <<'PY'
import json, statistics, sys
out, rounds, labels = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
runs = {}
for label in labels:
    for r in range(1, rounds + 1):
        with open(f"{out}/{label}-r{r}.jsonl") as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("kind") == "closed":
                    runs.setdefault((label, rec["scenario"]), []).append((r, rec))
scenarios = sorted({sc for _, sc in runs})

def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))}, n={len(values)})"

print("| binary | scenario | req/s, median (min–max) | CPU per call, median (min–max) |")
print("|---|---|---:|---:|")
for sc in scenarios:
    for label in labels:
        recs = [rec for _, rec in runs.get((label, sc), [])]
        if not recs:
            continue
        rps = [rec["rps"] for rec in recs]
        cpu = [rec["cpu_us_per_req"] for rec in recs if rec.get("cpu_us_per_req")]
        print(f"| {label} | {sc} | {spread(rps, lambda v: f'{v:,.0f}')} | "
              f"{spread(cpu, lambda v: f'{v:.0f} µs')} |")
if len(labels) == 2:
    a, b = labels
    print()
    print(f"Per round, {b} / {a} of the median throughput (the two runs of a round are adjacent):")
    for sc in scenarios:
        ratios = []
        for r in range(1, rounds + 1):
            ma = [rec["rps"] for rr, rec in runs.get((a, sc), []) if rr == r]
            mb = [rec["rps"] for rr, rec in runs.get((b, sc), []) if rr == r]
            if ma and mb:
                ratios.append(statistics.median(mb) / statistics.median(ma))
        if ratios:
            print(f"- {sc}: " + ", ".join(f"{x:.1%}" for x in ratios)
                  + f"; median {statistics.median(ratios):.1%}")
PY
