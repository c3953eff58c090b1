"""HTTP/1.1 over a bare socket, for what httpx will not do: announce a body and never finish sending it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send_partial_request(
    host: str,
    port: int,
    head_lines: Iterable[str],
    body_parts: Iterable[bytes],
    timeout: float,
) -> RawResponse:
    """Send the head, then `body_parts` from a background thread without ever completing the body; read the answer.

    The answer must come before `timeout` although the body is unfinished: that is what "refused before the body
    is read whole" means. A server that waits for the rest makes this raise TimeoutError.
    """
    head = "".join(f"{line}\r\n" for line in head_lines) + "\r\n"
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        writer = threading.Thread(target=_send_quietly, args=(sock, body_parts), daemon=True)
        writer.start()
        response = _read_response(sock)
        # Unblock a writer stuck in sendall() once the server stopped reading, then let it finish.
        sock.shutdown(socket.SHUT_RDWR)
        writer.join(timeout)
        return response


def _send_quietly(sock: socket.socket, parts: Iterable[bytes]) -> None:
    # The server may answer and close while we still send: that is the expected outcome, not an error.
    try:
        for part in parts:
            sock.sendall(part)
    except OSError:
        pass


def _read_response(sock: socket.socket) -> RawResponse:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a complete response head: {buffer!r}")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    if length is not None:
        while len(rest) < int(length):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return RawResponse(status, headers, rest[: int(length)])
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return RawResponse(status, headers, _read_chunked(sock, rest))
    while chunk := sock.recv(65536):
        rest += chunk
    return RawResponse(status, headers, rest)


def _read_chunked(sock: socket.socket, buffer: bytes) -> bytes:
    body = b""
    while True:
        while b"\r\n" not in buffer:
            buffer += _recv_some(sock)
        size_line, _, buffer = buffer.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body
        while len(buffer) < size + 2:
            buffer += _recv_some(sock)
        body += buffer[:size]
        buffer = buffer[size + 2 :]


def _recv_some(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("connection closed inside a chunked body")
    return chunk
