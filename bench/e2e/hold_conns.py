#!/usr/bin/env python3
"""Opens N TCP connections to a loopback server and holds them idle, for a bounded time.

Modes: `silent` connects and sends nothing; `partial` sends the start of an HTTP request
(request line and one header, no terminating blank line), so the server has parsed and buffered
something and waits for the rest. Prints `ready N` once every connection is open, then holds
until SIGTERM or the time limit, and finally prints how many the server had not closed.

Usage: hold_conns.py HOST PORT N MODE SECONDS
"""

import select
import signal
import socket
import sys
import time


def still_open(sock):
    """True unless the peer has closed the connection (a read would return EOF or fail)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return True
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except OSError:
        return False


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    host, port, count, mode, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    if host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("loopback addresses only")
    if mode not in ("silent", "partial"):
        sys.exit("MODE is silent or partial")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    partial = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
    conns = []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=5)
        if mode == "partial":
            sock.sendall(partial)
        conns.append(sock)
    print(f"ready {len(conns)}", flush=True)
    deadline = time.monotonic() + seconds
    while not stop and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = sum(1 for sock in conns if still_open(sock))
    print(f"open {alive}", flush=True)
    for sock in conns:
        sock.close()


if __name__ == "__main__":
    main()
