#!/usr/bin/env python3
"""Limits shared through Redis: one gateway replica against two, on loopback.

Run by `bench/replicas.sh` (which builds the binary and checks the tools); see bench/README.md.

Scenarios, interleaved across trials so that machine drift cancels out:
  L1   one replica, limits in process (the default backend)
  R1   one replica, limits in Redis
  R2   two replicas, limits in Redis, sharing one limit: two wrk processes, one per replica,
       each with half the connections; the throughput is their sum
Every call is `POST /v1/tools/getOrder/call {"id":42}` with the full pipeline, against the
nginx upstream of bench/run.sh. The limits are declared so that they never refuse (a
per-agent admission bucket and a per-agent meter bucket, both far above the load): the run
measures what consulting them costs, not refusals. After each run the script checks that
every response was 200, that each replica wrote one audit record per call, and (Redis runs)
that the shared buckets exist in Redis under the run's prefix.

Pinning on a 2-CPU machine: every replica on the SUT CPU, wrk, nginx and Redis on the other.
R2 therefore gives two replicas the CPU that R1 gives one: it measures what sharing a limit
costs (coordination through Redis, two processes instead of one), not how a fleet scales with
more cores, which a 2-CPU machine cannot show.

Latency added by Redis per call: sequential calls (one connection) with each backend, p50 and
p99 of R1 minus those of L1.
"""

import argparse
import base64
import datetime
import json
import os
import platform
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")

LIMITS = """
limits:
  max_depth: 16
  max_string_bytes: 16384
  max_items: 1000
  rates:
    - name: fleet-admit
      key: [agent]
      stage: admit
      rate: 10000000
      per: 1s
      burst: 10000000
    - name: fleet-meter
      key: [agent, tool]
      stage: meter
      weigh: cost
      rate: 10000000
      per: 1s
      burst: 10000000
  backend:
{backend}
"""

LOCAL = "    type: local\n"
REDIS = """    type: redis
    url: env:BENCH_REDIS_URL
    prefix: {prefix}
    timeout: 500ms
    on_unavailable: fail_closed
"""


def die(message):
    print(f"replicas.py: {message}", file=sys.stderr)
    sys.exit(1)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free(port):
    try:
        socket.create_server(("127.0.0.1", port)).close()
        return True
    except OSError:
        return False


def wait_http(url, proc, what):
    for _ in range(300):
        if proc.poll() is not None:
            die(f"{what} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    die(f"{what} did not answer at {url}")


def audit_count(db):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(
            "SELECT COUNT(*), SUM(decision = 'allow' AND upstream_status = 200) FROM audit_records"
        ).fetchone()


class Run:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="portcullis-replicas.")
        self.procs = []
        self.upstream_token = secrets.token_hex(20)
        self.client_secret = secrets.token_hex(20)
        self.env = dict(os.environ, BENCH_UPSTREAM_TOKEN=self.upstream_token,
                        BENCH_CLIENT_SECRET=self.client_secret, PORTCULLIS_LOG="warn",
                        BENCH_REDIS_URL=args.redis_url)
        self.results = []

    def start(self, name, cpu, command, **kw):
        log = open(os.path.join(self.work, f"{name}.log"), "w")
        proc = subprocess.Popen(["taskset", "-c", str(cpu)] + command, stdout=log,
                                stderr=subprocess.STDOUT, env=self.env, **kw)
        self.procs.append(proc)
        return proc

    def stop(self, proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self, ok):
        for proc in self.procs:
            self.stop(proc)
        if ok:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print(f"replicas.py: logs kept in {self.work}", file=sys.stderr)

    def render(self, src, dst, port):
        with open(src) as f:
            text = f.read()
        text = (text.replace("@GATEWAY_PORT@", str(port))
                .replace("@UPSTREAM_PORT@", str(self.args.port_base + 1))
                .replace("@BENCH_UPSTREAM_TOKEN@", self.upstream_token))
        with open(dst, "w") as f:
            f.write(text)

    def upstream(self):
        prefix = os.path.join(self.work, "nginx")
        os.makedirs(os.path.join(prefix, "logs"))
        os.makedirs(os.path.join(prefix, "tmp"))
        conf = os.path.join(prefix, "nginx.conf")
        self.render(os.path.join(HERE, "nginx-upstream.conf"), conf, 0)
        proc = self.start("nginx", self.args.load_cpu,
                          ["nginx", "-p", prefix + "/", "-c", conf, "-e",
                           os.path.join(prefix, "logs", "error.log")])
        wait_http(f"http://127.0.0.1:{self.args.port_base + 1}/orders/42", proc, "nginx")

    def gateway(self, name, port, backend):
        folder = os.path.join(self.work, name)
        os.makedirs(folder)
        config = os.path.join(folder, "portcullis.yaml")
        self.render(os.path.join(HERE, "portcullis.yaml"), config, port)
        with open(config) as f:
            text = f.read()
        # The bench configuration ends with its `limits:` section; this run declares its own.
        cut = text.find("\nlimits:")
        if cut < 0:
            die("bench/e2e/portcullis.yaml has no `limits:` section to replace")
        with open(config, "w") as f:
            f.write(text[:cut] + "\n" + LIMITS.format(backend=backend))
        shutil.copy(os.path.join(HERE, "orders.openapi.yaml"), folder)
        shutil.copytree(os.path.join(HERE, "policies"), os.path.join(folder, "policies"))
        check = subprocess.run([self.args.bin, "check", "--config", config], env=self.env,
                               capture_output=True, text=True)
        if check.returncode != 0:
            die(f"portcullis check failed for {name}: {check.stdout}{check.stderr}")
        proc = self.start(name, self.args.sut_cpu, [self.args.bin, "serve", "--config", config])
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", proc, name)
        request = urllib.request.Request(
            f"{base}/oauth/token", data=b"grant_type=client_credentials",
            headers={"Authorization": "Basic " + base64.b64encode(
                f"bench-agent:{self.client_secret}".encode()).decode()})
        with urllib.request.urlopen(request, timeout=10) as response:
            token = json.load(response)["access_token"]
        return {"name": name, "proc": proc, "base": base, "token": token,
                "audit": os.path.join(folder, "data", "audit.db")}

    def wrk(self, gateway, duration, connections, tag):
        out = os.path.join(self.work, f"{tag}.json")
        env = dict(self.env, BENCH_OUT=out, BENCH_METHOD="POST", BENCH_BODY='{"id":42}',
                   BENCH_HEADERS=f"Content-Type: application/json\n"
                                 f"Authorization: Bearer {gateway['token']}")
        command = ["taskset", "-c", str(self.args.load_cpu), "wrk", "-t1", f"-c{connections}",
                   f"-d{duration}s", "--timeout", "5s", "-s", os.path.join(HERE, "wrk.lua"),
                   f"{gateway['base']}/v1/tools/getOrder/call"]
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL), out

    def measure(self, scenario, gateways, trial, connections, duration, kind="closed"):
        per = max(1, connections // len(gateways))
        # Warm-up, then the measured run; every replica loaded at once.
        for proc, _ in [self.wrk(g, self.args.warmup, per, f"warm-{scenario}-{g['name']}")
                        for g in gateways]:
            proc.wait()
        time.sleep(0.3)
        before = {g["name"]: (audit_count(g["audit"])[0], cpu_seconds(g["proc"].pid)) for g in gateways}
        runs = [(g, *self.wrk(g, duration, per, f"{kind}-{scenario}-t{trial}-{g['name']}"))
                for g in gateways]
        for _, proc, _ in runs:
            if proc.wait() != 0:
                die(f"wrk failed in {scenario}")
        time.sleep(0.5)
        total = {"rps": 0.0, "completed": 0, "cpu_s": 0.0, "p50": [], "p99": []}
        problems = []
        for g, _, out in runs:
            with open(out) as f:
                r = json.load(f)
            errors = sum(r["errors"].values())
            records, allowed = audit_count(g["audit"])
            written = records - before[g["name"]][0]
            if errors:
                problems.append(f"{g['name']}: {r['errors']}")
            # At most one call per connection was in flight when wrk stopped.
            if not r["requests"] <= written <= r["requests"] + per:
                problems.append(f"{g['name']}: {written} audit records for {r['requests']} responses")
            total["rps"] += r["requests"] / (r["duration_us"] / 1e6)
            total["completed"] += r["requests"]
            total["cpu_s"] += cpu_seconds(g["proc"].pid) - before[g["name"]][1]
            total["p50"].append(r["latency_us"]["p50"] / 1000)
            total["p99"].append(r["latency_us"]["p99"] / 1000)
        record = {"kind": kind, "scenario": scenario, "trial": trial, "rps": total["rps"],
                  "p50_ms": max(total["p50"]), "p99_ms": max(total["p99"]),
                  "cpu_us_per_req": 1e6 * total["cpu_s"] / max(1, total["completed"]),
                  "completed": total["completed"], "problems": problems}
        self.results.append(record)
        status = "ok" if not problems else "FAIL " + "; ".join(problems)
        print(f"   {kind} {scenario} t{trial}: {record['rps']:,.0f} req/s, p50 {record['p50_ms']:.2f} ms, "
              f"p99 {record['p99_ms']:.2f} ms, {record['cpu_us_per_req']:.0f} µs CPU/req ({status})",
              flush=True)
        return record


def redis_keys(url, prefix):
    host_port = url.split("://", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    out = subprocess.run(["redis-cli", "-h", host or "127.0.0.1", "-p", port or "6379", "--scan",
                          "--pattern", f"{prefix}*"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line]


def report(run, meta, path):
    med = statistics.median
    out = []
    w = out.append
    closed = [r for r in run.results if r["kind"] == "closed"]
    w("# Portcullis limits shared through Redis: one replica against two")
    w("")
    w(f"- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    w(f"- Commit: `{meta['commit']}`")
    w(f"- Machine: {meta['cpu']}, {os.cpu_count()} logical CPUs, Linux {platform.release()}")
    w(f"- Tools: {meta['versions']}")
    w(f"- Settings: {meta['trials']} trials × {meta['duration']} s per run (after a "
      f"{meta['warmup']} s warm-up), {meta['connections']} connections in all (R2: half per "
      f"replica); every replica on CPU {meta['sut_cpu']}, wrk, nginx and Redis on CPU "
      f"{meta['load_cpu']}")
    w("")
    w("| scenario | req/s | p50 | p99 | CPU / req | trials |")
    w("|---|---:|---:|---:|---:|---:|")
    titles = {"L1": "L1: one replica, limits in process",
              "R1": "R1: one replica, limits in Redis",
              "R2": "R2: two replicas sharing the limits in Redis (sum)"}
    for sc, title in titles.items():
        rs = [r for r in closed if r["scenario"] == sc]
        if rs:
            w(f"| {title} | {med(r['rps'] for r in rs):,.0f} | {med(r['p50_ms'] for r in rs):.2f} ms "
              f"| {med(r['p99_ms'] for r in rs):.2f} ms | {med(r['cpu_us_per_req'] for r in rs):.0f} µs | {len(rs)} |")
    w("")
    w("Throughput ratios per trial, then the median:")
    w("")
    for num, den in (("R1", "L1"), ("R2", "R1"), ("R2", "L1")):
        ratios = []
        for t in sorted({r["trial"] for r in closed}):
            n = [r["rps"] for r in closed if r["trial"] == t and r["scenario"] == num]
            d = [r["rps"] for r in closed if r["trial"] == t and r["scenario"] == den]
            if n and d:
                ratios.append(n[0] / d[0])
        if ratios:
            w(f"- {num} / {den}: {', '.join(f'{v:.1%}' for v in ratios)}; median **{med(ratios):.1%}**")
    seq = [r for r in run.results if r["kind"] == "sequential"]
    if seq:
        w("")
        w("Latency Redis adds per call (one connection, sequential calls, medians over trials):")
        w("")
        w("| backend | req/s | p50 | p99 |")
        w("|---|---:|---:|---:|")
        values = {}
        for sc in ("L1", "R1"):
            rs = [r for r in seq if r["scenario"] == sc]
            if rs:
                values[sc] = (med(r["p50_ms"] for r in rs), med(r["p99_ms"] for r in rs))
                w(f"| {titles[sc]} | {med(r['rps'] for r in rs):,.0f} | {values[sc][0]:.3f} ms | {values[sc][1]:.3f} ms |")
        if len(values) == 2:
            w("")
            w(f"Added by Redis: p50 **{(values['R1'][0] - values['L1'][0]) * 1000:.0f} µs**, "
              f"p99 **{(values['R1'][1] - values['L1'][1]) * 1000:.0f} µs**.")
    w("")
    w(f"Redis keys under the run's prefix after the runs: {meta['redis_keys']} "
      f"(the shared buckets; both replicas used the same keys).")
    problems = [p for r in run.results for p in r["problems"]]
    w("")
    w("Every run: all responses 200 and one audit record per call in each replica's log."
      if not problems else f"**{len(problems)} problem(s); the figures are not trustworthy.**")
    text = "\n".join(out) + "\n"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    print(text)
    return not problems


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True)
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--port-base", type=int, default=18180)
    p.add_argument("--cpus", default="0,1")
    p.add_argument("--output", default=os.path.join(HERE, "..", "results", "replicas.md"))
    p.add_argument("--commit", default="unknown")
    p.add_argument("--versions", default="")
    p.add_argument("--cpu-model", default=platform.processor() or "unknown CPU")
    args = p.parse_args()
    args.sut_cpu, args.load_cpu = (int(c) for c in args.cpus.split(","))
    ports = [args.port_base + i for i in range(5)]
    for port in ports:
        if not free(port):
            die(f"port {port} is in use; pick others with --port-base")

    run = Run(args)
    ok = False
    try:
        run.upstream()
        prefix = f"portcullis-bench-{secrets.token_hex(6)}"
        local = run.gateway("local", args.port_base + 2, LOCAL)
        redis_a = run.gateway("redis-a", args.port_base + 3, REDIS.format(prefix=prefix))
        redis_b = run.gateway("redis-b", args.port_base + 4, REDIS.format(prefix=prefix))
        print(f"== {args.trials} trial(s) × L1 R1 R2 × {args.duration} s, {args.connections} connections", flush=True)
        for trial in range(1, args.trials + 1):
            run.measure("L1", [local], trial, args.connections, args.duration)
            run.measure("R1", [redis_a], trial, args.connections, args.duration)
            run.measure("R2", [redis_a, redis_b], trial, args.connections, args.duration)
        print("== sequential calls (one connection): the latency Redis adds", flush=True)
        for trial in range(1, args.trials + 1):
            run.measure("L1", [local], trial, 1, args.duration, kind="sequential")
            run.measure("R1", [redis_a], trial, 1, args.duration, kind="sequential")
        keys = redis_keys(args.redis_url, prefix)
        if not keys:
            die(f"no Redis keys under {prefix}: the Redis backend was not used")
        meta = {"commit": args.commit, "cpu": args.cpu_model, "versions": args.versions,
                "trials": args.trials, "duration": args.duration, "warmup": args.warmup,
                "connections": args.connections, "sut_cpu": args.sut_cpu,
                "load_cpu": args.load_cpu, "redis_keys": len(keys)}
        ok = report(run, meta, os.path.abspath(args.output))
    finally:
        run.close(ok)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
