"""Real HTTP servers on 127.0.0.1 that smoke checks run against: they answer, fail, hang, reset the
connection and send garbage. Hanging requests end when the server stops, so no test waits on them."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
import time


class _Handler(socketserver.StreamRequestHandler):
    server: SmokeTargets

    def handle(self) -> None:
        request_line = self.rfile.readline().decode("latin-1")
        while (header := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            if name.lower() == "host":
                self.server.hosts_seen.append(value.strip())
        path = request_line.split(" ")[1] if " " in request_line else "/"
        route = path.split("?")[0]
        if route == "/hang":
            self.server.stopping.wait(timeout=30)
        elif route == "/reset":
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif route == "/garbage":
            self.wfile.write(b"this is not HTTP at all\r\n\r\n")
        elif route.startswith("/slow/"):
            time.sleep(int(route.rsplit("/", 1)[1]) / 1000)
            self._answer(200, b"slow but fine")
        elif route.startswith("/status/"):
            self._answer(int(route.rsplit("/", 1)[1]), b"as requested")
        else:
            self._answer(200, b'{"ok": true}')

    def _answer(self, status: int, body: bytes) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        self.wfile.write(head.encode() + body)


class SmokeTargets(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Twenty checks connect at once; the default backlog of 5 would make some wait a SYN retry.
    request_queue_size = 128

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stopping = threading.Event()
        self.hosts_seen: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
