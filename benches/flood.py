"""The two sides of benches/flood.sh, on loopback.

    python3 benches/flood.py flood HOST PORT N
        Holds N connections to HOST:PORT and reopens each as it closes; odd
        ones send a header byte every 100 ms and never finish, even ones stay
        silent (as tests/common/nobody.rs). Prints "ready" once all are
        opened; runs until killed. Run as another user.

    python3 benches/flood.py probe HOST PORT TOKEN_FILE N GAP_MS TIMEOUT_S
        N owner requests (GET /v1/credentials with the token, each on a new
        connection, GAP_MS apart), each to be answered 200 within TIMEOUT_S
        in all. Prints one JSON line: served, p50/p99/max of the whole
        request and max and p99 of the connect alone, in milliseconds.
"""

import json
import selectors
import socket
import sys
import time


def flood(host, port, n):
    sel = selectors.DefaultSelector()
    conns = {}

    def open_one(i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((host, port))
        sel.register(s, selectors.EVENT_READ, i)
        conns[i] = s
        if i % 2:
            try:
                s.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            except OSError:
                pass

    for i in range(n):
        open_one(i)
    print("ready", flush=True)
    last_drip = time.monotonic()
    while True:
        for key, _ in sel.select(timeout=0.05):
            s, i = key.fileobj, key.data
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                open_one(i)
        if time.monotonic() - last_drip > 0.1:
            last_drip = time.monotonic()
            for i, s in list(conns.items()):
                if i % 2:
                    try:
                        s.send(b"a")
                    except OSError:
                        pass


def one(host, port, token, timeout):
    """(ok, total seconds, connect seconds) of one request."""
    start = time.monotonic()
    deadline = start + timeout
    try:
        s = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        took = time.monotonic() - start
        return False, took, took
    connected = time.monotonic() - start
    try:
        s.sendall(
            f"GET /v1/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {token}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, time.monotonic() - start, connected
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    except OSError:
        return False, time.monotonic() - start, connected
    finally:
        s.close()
    return answer.startswith(b"HTTP/1.1 200"), time.monotonic() - start, connected


def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def probe(host, port, token_file, n, gap_ms, timeout):
    token = open(token_file).read()
    results = []
    for _ in range(n):
        results.append(one(host, port, token, timeout))
        time.sleep(gap_ms / 1000)
    totals = [r[1] * 1000 for r in results]
    connects = [r[2] * 1000 for r in results]
    print(json.dumps({
        "served": sum(1 for r in results if r[0]),
        "requests": n,
        "p50_ms": round(quantile(totals, 0.5), 1),
        "p99_ms": round(quantile(totals, 0.99), 1),
        "max_ms": round(max(totals), 1),
        "connect_p99_ms": round(quantile(connects, 0.99), 1),
        "connect_max_ms": round(max(connects), 1),
    }))


if __name__ == "__main__":
    role, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if role == "flood":
        flood(host, port, int(sys.argv[4]))
    else:
        probe(host, port, sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]))
