#!/usr/bin/env python3
"""Send exactly N requests over C keep-alive connections and check every answer.

Used by bench/callgrind.sh, where the gateway runs under callgrind and is slow enough that a
Python client is not the limit, and where the number of calls must be known exactly (the
instructions counted are divided by it).

    drive.py URL --count N [--connections C] [--method POST] [--body TEXT]
             [--header 'Name: value']... [--expect TEXT]

Every answer must be HTTP 200 and, with --expect, contain TEXT; otherwise the exit status is
1 and the first bad answer is printed. Prints `ok N` on success. Standard library only.
"""

import argparse
import http.client
import sys
import threading
import urllib.parse


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--method", default="GET")
    p.add_argument("--body", default="")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--expect", default="")
    p.add_argument("--timeout", type=float, default=120.0)
    a = p.parse_args()

    url = urllib.parse.urlsplit(a.url)
    path = url.path + (f"?{url.query}" if url.query else "")
    headers = {}
    for line in a.header:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    body = a.body.encode() if a.body else None
    expect = a.expect.encode()

    lock = threading.Lock()
    state = {"left": a.count, "done": 0, "bad": None}

    def take():
        with lock:
            if state["left"] == 0 or state["bad"] is not None:
                return False
            state["left"] -= 1
            return True

    def worker():
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=a.timeout)
        try:
            while take():
                conn.request(a.method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                with lock:
                    if resp.status != 200 or (expect and expect not in data):
                        if state["bad"] is None:
                            state["bad"] = f"HTTP {resp.status}: {data[:500]!r}"
                    else:
                        state["done"] += 1
        except (OSError, http.client.HTTPException) as err:
            with lock:
                if state["bad"] is None:
                    state["bad"] = f"connection error: {err}"
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(max(1, a.connections))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if state["bad"] is not None or state["done"] != a.count:
        print(f"drive.py: {state['done']} of {a.count} answered as expected; {state['bad']}",
              file=sys.stderr)
        sys.exit(1)
    print(f"ok {state['done']}")


if __name__ == "__main__":
    main()
