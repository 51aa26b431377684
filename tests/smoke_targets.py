"""Real HTTP servers on 127.0.0.1 that smoke checks run against: they answer, fail, hang, reset the
connection, send garbage, redirect, trickle an answer a byte at a time, and close the connection
in the middle of a body (one with a Content-Length, one in chunks). Hanging requests end when the
server stops, so no test waits on them."""

from __future__ import annotations

import socket
import socketserver
import ssl
import struct
import threading
import time


class _Handler(socketserver.StreamRequestHandler):
    server: SmokeTargets

    def handle(self) -> None:
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):  # a client that does not trust the certificate hangs up
                return
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
        elif route.startswith("/redirect"):
            # To another origin (localhost, not 127.0.0.1), which answers 200: only following it passes.
            location = f"http://localhost:{self.server.port}/ok"
            head = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            self.wfile.write(head.encode())
        elif route.startswith("/trickle/"):
            # 200, then a body of 20 bytes spread over the given milliseconds; each byte is quick.
            self._trickle(int(route.rsplit("/", 1)[1]) / 1000, framed=True)
        elif route.startswith("/trickle-unframed/"):
            # The same without Content-Length: the body ends when the connection does.
            self._trickle(int(route.rsplit("/", 1)[1]) / 1000, framed=False)
        elif route == "/cut-short":
            # A body that looks whole (JSON, "ok" in it) but is 12 of the 64 bytes announced.
            self.wfile.write(b'HTTP/1.1 200 OK\r\nContent-Length: 64\r\nConnection: close\r\n\r\n{"ok": true}')
        elif route in ("/chunked", "/chunked-cut"):
            # One chunk, then the last (empty) chunk, or with /chunked-cut the connection closes instead.
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            last = b"" if route == "/chunked-cut" else b"0\r\n\r\n"
            self.wfile.write(head + b'c\r\n{"ok": true}\r\n' + last)
        elif route.startswith("/status/"):
            self._answer(int(route.rsplit("/", 1)[1]), b"as requested")
        else:
            self._answer(200, b'{"ok": true}')

    def _trickle(self, seconds: float, framed: bool) -> None:
        body = b"ok trickling answer!"
        length = f"Content-Length: {len(body)}\r\n" if framed else ""
        self.wfile.write(f"HTTP/1.1 200 OK\r\n{length}Connection: close\r\n\r\n".encode())
        self.wfile.flush()
        for byte in body:
            if self.server.stopping.wait(timeout=seconds / len(body)):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:  # the client gave up
                return

    def _answer(self, status: int, body: bytes) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        self.wfile.write(head.encode() + body)


class SmokeTargets(socketserver.ThreadingTCPServer):
    """Plain HTTP, or HTTPS with `tls` = (certificate file, key file)."""

    daemon_threads = True
    allow_reuse_address = True
    # Twenty checks connect at once; the default backlog of 5 would make some wait a SYN retry.
    request_queue_size = 128

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stopping = threading.Event()
        self.hosts_seen: list[str] = []
        self.tls = None
        if tls:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(*tls)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def get_request(self):
        connection, address = super().get_request()
        if self.tls:
            # The handshake happens on the handler's thread, so one slow client blocks nobody.
            connection = self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return connection, address

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
