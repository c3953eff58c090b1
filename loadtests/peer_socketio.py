"""The peer: python-socketio doing Omnicart's live fan-out, to put Omnicart's write -> other-device latency beside it.

Server: socketio.AsyncServer under uvicorn, run as the ceiling app runs (as `omnicart serve` runs Omnicart), with
socketio.AsyncRedisManager when given --redis. A device connects with the auth payload {"room": <customer>} and
joins that room; a writer's POST /emit {"room", "version"} (a Litestar route, as Omnicart's are) is broadcast to
the room as a `cart.updated` event {"version"} and answered with the same body. No database and no auth: this is
the fan-out alone, where Omnicart's figure also holds a session check and a durable commit.

Client: bare `websockets` speaking engine.io 4 / socket.io 5 (the open packet "0{...}", "40{auth}" to join the
namespace, the server's ping "2" answered "3", events as '42["name",data]') rather than socketio.AsyncClient.
That keeps the client library, the process layout and the measuring code the same as for Omnicart's devices, so
the two figures differ by the server only; AsyncClient would also need aiohttp and a client object per device.

    python -m loadtests.peer_socketio --port 8791 [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import socketio  # type: ignore[import-untyped]
from litestar import Litestar, post
from websockets.asyncio.client import ClientConnection, connect

from loadtests import rawhttp
from loadtests.ceiling_app import health, serve

EVENT = "cart.updated"


class Emit(msgspec.Struct):
    room: str
    version: int


class _Updated(msgspec.Struct):
    version: int


decode_event = msgspec.json.Decoder(tuple[str, _Updated]).decode


def create_app(redis_url: str | None) -> Any:
    """The socket.io server with the writers' HTTP route beside it, as one ASGI app."""
    manager = socketio.AsyncRedisManager(redis_url) if redis_url else None
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager)

    async def join(sid: str, _environ: dict[str, Any], auth: dict[str, Any] | None) -> bool:
        room = (auth or {}).get("room")
        if not isinstance(room, str):
            return False
        await sio.enter_room(sid, room)
        return True

    sio.on("connect", join)

    @post("/emit", status_code=200)
    async def emit(data: Emit) -> Emit:
        await sio.emit(EVENT, {"version": data.version}, room=data.room)
        return data

    return socketio.ASGIApp(sio, other_asgi_app=Litestar([emit, health]))


@dataclass(frozen=True)
class SocketIOTarget:
    """The peer as a bench_stream Target: a credential is the customer's room."""

    base_url: str

    async def open_devices(self, client: httpx.AsyncClient, customers: int) -> tuple[list[str], Counter[str]]:
        rooms = [uuid.uuid4().hex for _ in range(customers)]
        return [room for room in rooms for _ in range(2)], Counter()

    async def open_pair(self, client: httpx.AsyncClient) -> tuple[str, str, int]:
        room = uuid.uuid4().hex
        return room, room, 0

    async def connect(self, credential: str, max_queue: int) -> ClientConnection:
        url = self.base_url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
        ws = await connect(url, compression=None, max_queue=max_queue, ping_interval=None, open_timeout=60)
        try:
            opened = await asyncio.wait_for(ws.recv(), 60)
            if not str(opened).startswith("0"):
                raise RuntimeError(f"expected the engine.io open packet, got {opened!r}")
            await ws.send("40" + json.dumps({"room": credential}))
            joined = await asyncio.wait_for(ws.recv(), 60)
            if not str(joined).startswith("40"):
                raise RuntimeError(f"expected the socket.io connect answer, got {joined!r}")
        except BaseException:
            await ws.close()
            raise
        return ws

    async def versions(self, ws: ClientConnection) -> AsyncIterator[int]:
        async for raw in ws:
            if raw == "2":
                await ws.send("3")
            elif isinstance(raw, str) and raw.startswith("42"):
                name, data = decode_event(raw[2:])
                if name == EVENT:
                    yield data.version

    def write_request(self, credential: str, writes: int) -> bytes:
        return rawhttp.post(self.base_url, "/emit", msgspec.json.encode(Emit(credential, writes + 1)), {})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.peer_socketio", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", help="Redis URL for socketio.AsyncRedisManager (default: in-process rooms)")
    args = parser.parse_args()
    serve(create_app(args.redis), args.port)


if __name__ == "__main__":
    main()
