"""Hostile HTTP clients over raw sockets, for the attack tests and for measuring a server.

Each function opens real TCP connections to 127.0.0.1:<port>; none needs a token.
`python3 tests/lib/hostile.py PORT` prints how long /healthz takes under each attack.
"""
import socket
import sys
import threading
import time


def open_idle(port, count):
    """`count` connections that send nothing; returns the sockets (caller closes them)."""
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            break
        socks.append(s)
    return socks


class SlowLoris:
    """`count` clients that each send one byte of a never-ending header every `interval` s.

    `closed_after` lists, per client, the seconds until the server closed it (None while
    open)."""

    def __init__(self, port, count, interval=2.0, body=False):
        self.port, self.count, self.interval, self.body = port, count, interval, body
        self.stop = threading.Event()
        self.closed_after = [None] * count
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def _run(self):
        socks = []
        start = time.time()
        for _ in range(self.count):
            s = socket.create_connection(("127.0.0.1", self.port))
            if self.body:
                # Complete headers, then a body that trickles (a token is not needed to try).
                s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            else:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        while not self.stop.is_set():
            for i, s in enumerate(socks):
                if self.closed_after[i] is not None:
                    continue
                try:
                    s.sendall(b"{" if self.body else b"X")
                except OSError:
                    self.closed_after[i] = time.time() - start
            self.stop.wait(self.interval)
        for s in socks:
            s.close()


def timed_get(port, path="/healthz", timeout=10.0):
    """(status, seconds) of one GET on a fresh connection; status None on a timeout."""
    start = time.time()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else None
        return status, time.time() - start
    except (OSError, ValueError):
        return None, time.time() - start


def main():
    port = int(sys.argv[1])
    print("baseline /healthz: status %s in %.3f s" % timed_get(port))
    idle = open_idle(port, 600)
    print("600 idle connections (%d opened): /healthz status %s in %.3f s"
          % ((len(idle),) + timed_get(port)))
    for s in idle:
        s.close()
    time.sleep(0.5)
    with SlowLoris(port, 32, 2.0):
        time.sleep(3)
        print("32 slow clients (1 byte / 2 s): /healthz status %s in %.3f s" % timed_get(port))


if __name__ == "__main__":
    main()
