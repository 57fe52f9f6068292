#!/usr/bin/env python3
"""Helpers for bench/run.sh: process counters, audit-log counts, result records, the report.

Subcommands (all output on stdout):
  cpu PID...                 CPU seconds (user + system) used so far by these processes
  busy SECONDS               how busy all CPUs are over SECONDS (other work competing)
  mem PID                    `VmRSS VmHWM` in KiB
  reset-hwm PID              reset the process's peak RSS (VmHWM) to its current RSS
  audit-seq DB               highest sequence number in the audit log (0 when empty)
  record ...                 turn one wrk or oha result into a JSON line of the results file
  memory ...                 append one memory measurement to the results file
  median ...                 median of a field over the closed-loop runs of one scenario
  mcp-answer                 read an MCP HTTP answer (JSON or SSE) on stdin, print the JSON-RPC
                             message that carries a result or an error
  report ...                 write the markdown report

Only the Python standard library is used.
"""

import argparse
import datetime
import json
import os
import platform
import sqlite3
import statistics
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

SCENARIOS = {
    "A": "(a) nginx upstream directly: `GET /orders/42`",
    "B": "(b) nginx plain reverse proxy in front of (a)",
    "C": "(c) Portcullis HTTP tools API: `POST /v1/tools/getOrder/call`",
    "D1": "(d1) Portcullis MCP `tools/call`, stateless 2026-07-28",
    "D2": "(d2) Portcullis MCP `tools/call`, session 2025-11-25 (SSE answers)",
    "G": "(g) as (d1), every guard off (no argument inspection, DLP or response scan)",
}
GATEWAY = ("C", "D1", "D2", "G")
# Exit status of `record` when the run must not be trusted.
EXIT_BAD_RUN = 3


# --- process counters -----------------------------------------------------------------------

def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        # The command name is in parentheses and may contain spaces: split after the last one.
        fields = stat[stat.rindex(")") + 2:].split()
        # Fields 14 and 15 of proc(5) (utime, stime) are at 11 and 12 after the name.
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def cpu_busy(seconds):
    """Share of all CPUs' time spent outside idle and iowait over `seconds` (from /proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]
        return sum(values[:8]) - idle, sum(values[:8])
    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(1, total1 - total0)


def mem_kib(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


# --- audit log ------------------------------------------------------------------------------

def audit_connect(db):
    # Read-only: the gateway is the only writer. WAL mode lets this read while it writes.
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)


def audit_seq(db):
    with audit_connect(db) as conn:
        return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_records").fetchone()[0]


def audit_window(db, after_seq):
    """Records written after `after_seq`, counted by front, decision and upstream status."""
    with audit_connect(db) as conn:
        rows = conn.execute(
            "SELECT front, decision, upstream_status, COUNT(*) FROM audit_records "
            "WHERE seq > ? GROUP BY 1, 2, 3",
            (after_seq,),
        ).fetchall()
    outcomes = {f"{front}/{decision}/{status}": count for front, decision, status, count in rows}
    return sum(outcomes.values()), outcomes


# --- load generator results -----------------------------------------------------------------

def parse_wrk(path):
    with open(path) as f:
        r = json.load(f)
    e = r["errors"]
    lat = r["latency_us"]
    return {
        "duration_s": r["duration_us"] / 1e6,
        "completed": r["requests"],
        "non_2xx": e["status"],
        "socket_errors": e["connect"] + e["read"] + e["write"],
        "timeouts": e["timeout"],
        "aborted_at_end": None,
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
        "error_detail": {k: v for k, v in e.items() if v},
    }


def parse_oha(path):
    with open(path) as f:
        r = json.load(f)
    codes = {int(k): v for k, v in r.get("statusCodeDistribution", {}).items()}
    errors = r.get("errorDistribution", {})
    aborted = sum(v for k, v in errors.items() if "deadline" in k)
    pct = r["latencyPercentiles"]

    def ms(key):
        value = pct.get(key)
        return None if value is None else value * 1000

    return {
        "duration_s": r["summary"]["total"],
        "completed": sum(codes.values()),
        "non_2xx": sum(v for k, v in codes.items() if not 200 <= k < 300),
        "socket_errors": sum(v for k, v in errors.items() if "deadline" not in k),
        "timeouts": 0,
        "aborted_at_end": aborted,
        "p50_ms": ms("p50"),
        "p90_ms": ms("p90"),
        "p99_ms": ms("p99"),
        "max_ms": r["summary"]["slowest"] * 1000 if r["summary"].get("slowest") else None,
        "error_detail": errors,
    }


def cmd_record(a):
    run = parse_wrk(a.result) if a.tool == "wrk" else parse_oha(a.result)
    record = {
        "kind": a.kind,
        "scenario": a.scenario,
        "trial": a.trial,
        "tool": a.tool,
        "connections": a.connections,
        "offered_rps": a.rate,
        "rate_pct": a.rate_pct,
        "rate_of": a.rate_of,
        **run,
    }
    completed = run["completed"]
    record["rps"] = completed / run["duration_s"] if run["duration_s"] else 0.0
    cpu = a.cpu_after - a.cpu_before
    record["cpu_s"] = round(cpu, 3)
    record["cpu_us_per_req"] = cpu * 1e6 / completed if completed else None
    if a.mem_pid:
        rss, hwm = mem_kib(a.mem_pid)
        record["rss_kib"], record["hwm_kib"] = rss, hwm
    problems = []
    if completed == 0:
        problems.append("no request completed")
    if run["non_2xx"]:
        problems.append(f"{run['non_2xx']} answers were not 2xx")
    if a.audit_db:
        records, outcomes = audit_window(a.audit_db, a.audit_seq)
        good = sum(v for k, v in outcomes.items() if k.endswith("/allow/200"))
        # Sent = completed + failed on the socket; requests in flight when the load generator
        # stopped may still be completed and recorded by the gateway, up to one per connection.
        sent = completed + run["socket_errors"] + run["timeouts"]
        record["audit"] = {
            "records": records,
            "completed": completed,
            "sent_known": sent,
            "difference": records - completed,
            "outcomes": outcomes,
        }
        if records < completed:
            problems.append(
                f"AUDIT: {records} records for {completed} completed responses "
                f"({completed - records} answered calls have no record)")
        if good != records:
            problems.append(f"AUDIT: {records - good} records in the window are not allow/200: {outcomes}")
        if records > sent + a.connections:
            problems.append(
                f"AUDIT: {records} records but at most {sent + a.connections} requests "
                f"could have reached the gateway")
    record["problems"] = problems
    with open(a.out, "a") as f:
        f.write(json.dumps(record) + "\n")
    line = (f"{a.kind:6} {a.scenario:2} trial {a.trial}: {record['rps']:9.0f} req/s  "
            f"p50 {fmt_ms(run['p50_ms'])}  p90 {fmt_ms(run['p90_ms'])}  p99 {fmt_ms(run['p99_ms'])}  "
            f"cpu/req {fmt_us(record['cpu_us_per_req'])}")
    if a.rate:
        line += f"  offered {a.rate:.0f}/s ({a.rate_pct}% of {a.rate_of})"
    if "audit" in record:
        line += f"  audit {record['audit']['records']}/{completed}"
    if "hwm_kib" in record:
        line += f"  peak RSS {record['hwm_kib'] / 1024:.1f} MiB"
    print(line, flush=True)
    for problem in problems:
        print(f"  FAIL: {problem}", file=sys.stderr, flush=True)
    return EXIT_BAD_RUN if problems else 0


def cmd_memory(a):
    record = {"kind": "memory", "label": a.label, "tools": a.tools, "connections": a.connections,
              "open_at_end": a.open_at_end, "baseline_rss_kib": a.baseline_rss}
    if a.rss is not None and a.hwm is not None:
        record["rss_kib"], record["hwm_kib"] = a.rss, a.hwm
    else:
        record["rss_kib"], record["hwm_kib"] = mem_kib(a.pid)
    with open(a.out, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(f"memory {a.label}: RSS {record['rss_kib'] / 1024:.1f} MiB "
          f"(peak {record['hwm_kib'] / 1024:.1f} MiB)", flush=True)


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def cmd_median(a):
    values = [r[a.field] for r in load(a.results)
              if r["kind"] == "closed" and r["scenario"] == a.scenario and r.get(a.field) is not None]
    if not values:
        sys.exit(f"no closed-loop runs of {a.scenario}")
    print(f"{statistics.median(values):.1f}")


def cmd_mcp_answer(_a):
    text = sys.stdin.read()
    candidates = []
    stripped = text.strip()
    if stripped.startswith("{"):
        candidates.append(stripped)
    else:
        candidates += [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    for candidate in candidates:
        try:
            message = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(message, dict) and ("result" in message or "error" in message):
            print(json.dumps(message))
            return 0
    print(f"no JSON-RPC result in: {text[:500]!r}", file=sys.stderr)
    return 1


# --- report ---------------------------------------------------------------------------------

def fmt_ms(value):
    return "–" if value is None else f"{value:.2f} ms"


def fmt_us(value):
    return "–" if value is None else f"{value:.0f} µs"


def fmt_int(value):
    return "–" if value is None else f"{value:,.0f}"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cmd_report(a):
    records = load(a.results)
    meta = json.loads(a.meta)
    closed = [r for r in records if r["kind"] == "closed"]
    opened = [r for r in records if r["kind"] == "open"]
    memory = [r for r in records if r["kind"] == "memory"]
    out = []
    w = out.append

    w("# Portcullis end-to-end load benchmark")
    w("")
    w(f"- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    w(f"- Commit: `{meta['commit']}`")
    w(f"- Machine: {cpu_model()}, {os.cpu_count()} logical CPUs, Linux {platform.release()}")
    w(f"- Tools: {meta['versions']}")
    w(f"- Settings: {meta['trials']} closed-loop trials × {meta['duration']} per run "
      f"(after a {meta['warmup']} warm-up), {meta['connections']} connections; open loop at "
      f"{meta['rates']} % of each scenario's closed-loop maximum, {meta['open_trials']} trial(s)")
    w(f"- Pinning: process under test on CPU {meta['sut_cpu']}; load generator and upstream nginx "
      f"on CPU {meta['load_cpu']} (in (a), the upstream nginx is the process under test)")
    if meta.get("busy_before"):
        w(f"- CPU busy with other processes just before the first run: {meta['busy_before']} "
          f"(pinning keeps our processes apart, not other work off these CPUs)")
    if meta.get("note"):
        w(f"- Note: {meta['note']}")
    w("")

    if closed:
        w("## Closed loop (wrk, maximum throughput)")
        w("")
        w("Medians over the trials. CPU is user + system time of the process under test "
          "(nginx: master + worker) divided by completed requests. Peak RSS is Portcullis's "
          "VmHWM during the run.")
        w("")
        w("| scenario | req/s | p50 | p90 | p99 | CPU / req | peak RSS | trials |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|")
        for sc, title in SCENARIOS.items():
            rs = [r for r in closed if r["scenario"] == sc]
            if not rs:
                continue
            hwm = max((r.get("hwm_kib") or 0) for r in rs)
            w(f"| {title} | {fmt_int(med(r['rps'] for r in rs))} | {fmt_ms(med(r['p50_ms'] for r in rs))} "
              f"| {fmt_ms(med(r['p90_ms'] for r in rs))} | {fmt_ms(med(r['p99_ms'] for r in rs))} "
              f"| {fmt_us(med(r['cpu_us_per_req'] for r in rs))} "
              f"| {f'{hwm / 1024:.1f} MiB' if hwm else '–'} | {len(rs)} |")
        w("")
        w("Throughput ratios computed per trial (runs of one trial are adjacent in time, so slow "
          "drift of the machine cancels), then the median:")
        w("")
        w("| ratio | " + " | ".join(f"trial {t}" for t in sorted({r['trial'] for r in closed})) + " | median |")
        w("|---|" + "---:|" * (len({r['trial'] for r in closed}) + 1))
        for num in GATEWAY + ("B",):
            for den in ("A", "B"):
                if num == den:
                    continue
                ratios = per_trial_ratios(closed, num, den)
                if not ratios:
                    continue
                cells = " | ".join("–" if v is None else f"{v:.1%}" for v in ratios.values())
                w(f"| {num} / {den} | {cells} | {med(ratios.values()):.1%} |")
        # The cost of the guards: the same MCP call with every guard on (D1) and off (G).
        ratios = per_trial_ratios(closed, "D1", "G")
        if ratios:
            cells = " | ".join(f"{v:.1%}" for v in ratios.values())
            w(f"| D1 / G (guards on / off) | {cells} | {med(ratios.values()):.1%} |")
        w("")

    if opened:
        w("## Open loop (oha, fixed offered rate, latency corrected)")
        w("")
        w("`oha -q RATE --latency-correction`: latency counts from when each request was due, "
          "so queueing behind a slow answer is measured (no coordinated omission). Medians over "
          "the open-loop trials.")
        w("")
        w("| scenario | offered | achieved req/s | p50 | p90 | p99 | CPU / req |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        keys = []
        for r in opened:
            key = (r["scenario"], r["rate_of"], r["rate_pct"])
            if key not in keys:
                keys.append(key)
        order = list(SCENARIOS)
        keys.sort(key=lambda k: (order.index(k[0]), order.index(k[1]), k[2]))
        for sc, of, pct in keys:
            rs = [r for r in opened if (r["scenario"], r["rate_of"], r["rate_pct"]) == (sc, of, pct)]
            offered = med(r["offered_rps"] for r in rs)
            achieved = med(r["rps"] for r in rs)
            label = f"{pct}% of {of} max ({offered:,.0f}/s)"
            # Below the offered rate, the generator or the server could not keep up: the
            # latencies then include the backlog and say little about the path.
            flag = " (not sustained)" if achieved < 0.97 * offered else ""
            w(f"| {sc} | {label} | {fmt_int(achieved)}{flag} | {fmt_ms(med(r['p50_ms'] for r in rs))} "
              f"| {fmt_ms(med(r['p90_ms'] for r in rs))} | {fmt_ms(med(r['p99_ms'] for r in rs))} "
              f"| {fmt_us(med(r['cpu_us_per_req'] for r in rs))} |")
        w("")
        w("p99 added over the direct path at half of the gateway's maximum throughput (the gateway "
          "and the direct path (a) at the same offered rate; per-trial difference, then the median):")
        w("")
        w("| gateway path | offered | p99 gateway | p99 direct | p99 added |")
        w("|---|---:|---:|---:|---:|")
        for sc in GATEWAY:
            added = p99_added(opened, sc)
            if added is None:
                continue
            w(f"| {SCENARIOS[sc]} | {added['offered']:,.0f}/s | {fmt_ms(added['gateway'])} "
              f"| {fmt_ms(added['direct'])} | {fmt_ms(added['added'])} |")
        w("")
    if meta.get("open_note"):
        w(meta["open_note"])
        w("")

    gw_runs = [r for r in records if "audit" in r]
    if gw_runs:
        w("## Audit completeness")
        w("")
        w("For every gateway run: audit records written from the start of the measured run until "
          "0.5 s after the load generator stopped, against the responses it received. Requests "
          "in flight when it stopped are completed and recorded by the gateway but not counted "
          "by the load generator, so the difference is at most one per connection.")
        w("")
        w("| run | completed responses | socket errors + timeouts | aborted at end | audit records | difference | outcome |")
        w("|---|---:|---:|---:|---:|---:|---|")
        for r in gw_runs:
            run = f"{r['kind']} {r['scenario']} t{r['trial']}"
            if r["kind"] == "open":
                run += f" @{r['rate_pct']}% of {r['rate_of']}"
            au = r["audit"]
            outcome = "ok" if not r["problems"] else "FAIL: " + "; ".join(r["problems"])
            w(f"| {run} | {au['completed']:,} | {r['socket_errors'] + r['timeouts']:,} "
              f"| {'–' if r['aborted_at_end'] is None else r['aborted_at_end']} "
              f"| {au['records']:,} | {au['difference']:+,} | {outcome} |")
        total_records = sum(r["audit"]["records"] for r in gw_runs)
        total_completed = sum(r["audit"]["completed"] for r in gw_runs)
        w("")
        w(f"Total: {total_records:,} records for {total_completed:,} completed responses "
          f"({total_records - total_completed:+,}). {meta.get('audit_verify', '')}")
        w("")

    if memory:
        w("## Memory")
        w("")
        w("| state | RSS | peak RSS |")
        w("|---|---:|---:|")
        for r in memory:
            label = r["label"]
            if r.get("connections"):
                label += f" ({r['open_at_end']} of {r['connections']} still open at the end)"
            extra = ""
            if r.get("baseline_rss_kib") and r.get("connections"):
                per = (r["rss_kib"] - r["baseline_rss_kib"]) / r["connections"]
                extra = f" (+{(r['rss_kib'] - r['baseline_rss_kib']) / 1024:.1f} MiB, {per:.1f} KiB per connection)"
            w(f"| {label} | {r['rss_kib'] / 1024:.1f} MiB{extra} | {r['hwm_kib'] / 1024:.1f} MiB |")
        w("")

    w("## Targets")
    w("")
    w("| target | measured | result |")
    w("|---|---:|---|")
    for sc in ("D1", "D2"):
        ratios = per_trial_ratios(closed, sc, "B")
        if ratios:
            value = med(ratios.values())
            w(f"| MCP tools/call full pipeline ≥ 25% of nginx plain-proxy throughput ({sc}, "
              f"{'stateless' if sc == 'D1' else 'session'}) | {value:.1%} | {'PASS' if value >= 0.25 else 'MISS'} |")
    ratios = per_trial_ratios(closed, "D1", "G")
    if ratios:
        value = med(ratios.values())
        w(f"| guards on vs off on MCP tools/call getOrder: at most 10% lower throughput (D1 / G) "
          f"| {value:.1%} | {'PASS' if value >= 0.90 else 'MISS'} |")
    for sc in GATEWAY:
        added = p99_added(opened, sc)
        if added is not None:
            w(f"| p99 added ≤ 1 ms at half max throughput ({sc}) | {fmt_ms(added['added'])} "
              f"| {'PASS' if added['added'] <= 1.0 else 'MISS'} |")
    idle = [r for r in memory if r.get("tools") == 1000 and not r.get("connections")]
    if idle:
        mib = idle[0]["rss_kib"] / 1024
        w(f"| idle RSS ≤ 64 MiB with 1000 tools | {mib:.1f} MiB | {'PASS' if mib <= 64 else 'MISS'} |")
    w("| Cedar decision p99 ≤ 50 µs with 1000 policies | `cargo bench -p portcullis-bench-stages --bench policy` | not measured here |")
    w("| audit ≥ 50,000 records/s with `sync: full` | `cargo bench -p portcullis-bench-stages --bench audit` | not measured here |")
    w("")
    problems = [p for r in records for p in r.get("problems", [])]
    if problems:
        w(f"**{len(problems)} problem(s) found; the figures above are not trustworthy.**")
        w("")

    text = "\n".join(out)
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


def per_trial_ratios(closed, num, den):
    ratios = {}
    for t in sorted({r["trial"] for r in closed}):
        n = [r["rps"] for r in closed if r["trial"] == t and r["scenario"] == num]
        d = [r["rps"] for r in closed if r["trial"] == t and r["scenario"] == den]
        if n and d and d[0]:
            ratios[t] = n[0] / d[0]
    return ratios


def p99_added(opened, sc):
    diffs, gws, directs, offered = [], [], [], []
    for t in sorted({r["trial"] for r in opened}):
        gw = [r for r in opened if r["trial"] == t and r["scenario"] == sc and r["rate_of"] == sc and r["rate_pct"] == 50]
        di = [r for r in opened if r["trial"] == t and r["scenario"] == "A" and r["rate_of"] == sc and r["rate_pct"] == 50]
        if gw and di and gw[0]["p99_ms"] is not None and di[0]["p99_ms"] is not None:
            diffs.append(gw[0]["p99_ms"] - di[0]["p99_ms"])
            gws.append(gw[0]["p99_ms"])
            directs.append(di[0]["p99_ms"])
            offered.append(gw[0]["offered_rps"])
    if not diffs:
        return None
    return {"added": med(diffs), "gateway": med(gws), "direct": med(directs), "offered": med(offered)}


def main():
    parser = argparse.ArgumentParser(description="helpers for bench/run.sh")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("cpu")
    p.add_argument("pids", nargs="+", type=int)
    p = sub.add_parser("busy")
    p.add_argument("seconds", type=float)
    p = sub.add_parser("mem")
    p.add_argument("pid", type=int)
    p = sub.add_parser("reset-hwm")
    p.add_argument("pid", type=int)
    p = sub.add_parser("audit-seq")
    p.add_argument("db")
    p = sub.add_parser("record")
    p.add_argument("--out", required=True)
    p.add_argument("--kind", choices=["closed", "open"], required=True)
    p.add_argument("--scenario", choices=list(SCENARIOS), required=True)
    p.add_argument("--trial", type=int, required=True)
    p.add_argument("--tool", choices=["wrk", "oha"], required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--connections", type=int, required=True)
    p.add_argument("--cpu-before", type=float, required=True)
    p.add_argument("--cpu-after", type=float, required=True)
    p.add_argument("--rate", type=float)
    p.add_argument("--rate-pct", type=int)
    p.add_argument("--rate-of")
    p.add_argument("--mem-pid", type=int)
    p.add_argument("--audit-db")
    p.add_argument("--audit-seq", type=int, default=0)
    p = sub.add_parser("memory")
    p.add_argument("--out", required=True)
    p.add_argument("--label", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--tools", type=int)
    p.add_argument("--connections", type=int)
    p.add_argument("--open-at-end", type=int)
    p.add_argument("--baseline-rss", type=int)
    p.add_argument("--rss", type=int, help="RSS in KiB measured earlier (default: read it now)")
    p.add_argument("--hwm", type=int, help="peak RSS in KiB measured earlier")
    p = sub.add_parser("median")
    p.add_argument("--results", required=True)
    p.add_argument("--scenario", required=True)
    p.add_argument("--field", default="rps")
    sub.add_parser("mcp-answer")
    p = sub.add_parser("report")
    p.add_argument("--results", required=True)
    p.add_argument("--meta", required=True, help="JSON object with the run's settings")
    p.add_argument("--out", required=True)
    a = parser.parse_args()

    if a.command == "cpu":
        print(f"{cpu_seconds(a.pids):.3f}")
    elif a.command == "busy":
        print(f"{cpu_busy(a.seconds):.0%} of all CPUs")
    elif a.command == "mem":
        print(*mem_kib(a.pid))
    elif a.command == "reset-hwm":
        # proc(5): writing 5 to clear_refs resets the peak RSS to the current RSS.
        try:
            with open(f"/proc/{a.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError as err:
            print(f"cannot reset the peak RSS of {a.pid}: {err}", file=sys.stderr)
    elif a.command == "audit-seq":
        print(audit_seq(a.db))
    elif a.command == "record":
        return cmd_record(a)
    elif a.command == "memory":
        cmd_memory(a)
    elif a.command == "median":
        cmd_median(a)
    elif a.command == "mcp-answer":
        return cmd_mcp_answer(a)
    elif a.command == "report":
        cmd_report(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
