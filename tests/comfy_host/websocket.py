"""A minimal websocket client for ComfyUI's /ws (standard library only): it listens, it never sends.

The tests run in the repo's venv, which has no websocket package. ComfyUI's server (aiohttp) sends
unfragmented, unmasked frames: JSON text messages ({"type", "data"}) and binary previews. This client
does the RFC 6455 handshake, then a thread reads frames into `messages` until close() or the server
closes. Pings are answered (aiohttp may send them), nothing else is ever written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import threading
import time
import urllib.parse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketClient:
    """A page's connection to ComfyUI: `ws://host/ws?clientId=<client_id>`; JSON messages land in `messages`."""

    def __init__(self, base_url: str, client_id: str, timeout: float = 10.0):
        url = urllib.parse.urlsplit(base_url)
        self.host, self.port = url.hostname, url.port or 80
        self.client_id = client_id
        self.messages: list[dict] = []
        self.binary_count = 0
        self._lock = threading.Lock()
        self._sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self._handshake()
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, name=f"ws-{client_id[:8]}", daemon=True)
        self._reader.start()

    def _handshake(self) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        path = "/ws?" + urllib.parse.urlencode({"clientId": self.client_id})
        request = (f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self._sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self._sock.recv(1)
            if not chunk:
                raise ConnectionError("the server closed the connection during the websocket handshake")
            head += chunk
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise ConnectionError(f"websocket handshake refused: {lines[0]}")
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if headers.get("sec-websocket-accept") != accept:
            raise ConnectionError("websocket handshake: wrong Sec-WebSocket-Accept")

    def _read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def _read_frame(self) -> tuple[int, bytes]:
        first, second = self._read_exact(2)
        opcode, masked, length = first & 0x0F, second & 0x80, second & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", self._read_exact(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", self._read_exact(8))
        mask = self._read_exact(4) if masked else None
        payload = self._read_exact(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return opcode, payload

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        # Client frames must be masked (RFC 6455, 5.3); only control frames are ever sent.
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def _read_loop(self) -> None:
        try:
            while True:
                opcode, payload = self._read_frame()
                if opcode == TEXT:
                    with self._lock:
                        self.messages.append(json.loads(payload))
                elif opcode == BINARY:
                    with self._lock:
                        self.binary_count += 1
                elif opcode == PING:
                    self._send_frame(PONG, payload[:125])
                elif opcode == CLOSE:
                    return
        except (ConnectionError, OSError, ValueError):
            return

    def events(self, event_type: str) -> list[dict]:
        """The `data` of every message of that type received so far."""
        with self._lock:
            return [m.get("data") for m in self.messages if m.get("type") == event_type]

    def wait_for(self, event_type: str, timeout: float = 30.0) -> list[dict]:
        """Waits until at least one message of that type arrived; returns events(event_type)."""
        deadline = time.monotonic() + timeout
        while not self.events(event_type):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event_type!r} message within {timeout:.0f} s")
            time.sleep(0.05)
        return self.events(event_type)

    def close(self) -> None:
        try:
            self._send_frame(CLOSE, struct.pack(">H", 1000))
        except OSError:
            pass
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._reader.join(5)

    def __enter__(self) -> "WebSocketClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
