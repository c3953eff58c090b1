"""What a client sends that the stream refuses: each refusal is a close with its documented code."""

from __future__ import annotations

import json

from omnicart.protocol.problems import CloseCode
from tests.support.catalog import SKUS
from tests.support.server import ServerProcess
from tests.support.stream import hello_frame
from tests.support.stream_fixtures import TUNED_ENV, ConnectStream, OpenStreamDevice

DEFAULT_MAX_FRAME_BYTES = 64 * 1024
MESSAGE_TOO_BIG = 1009
"""RFC 6455 §7.4.1: the websockets layer refuses a frame over the server's max size."""


async def test_oversize_first_frame_is_closed_1009(server: ServerProcess, connect_stream: ConnectStream) -> None:
    """A first frame over the maximum frame size closes the connection with 1009 before any hello is read."""
    stream = await connect_stream(server)
    await stream.send_text(json.dumps(hello_frame("x" * (DEFAULT_MAX_FRAME_BYTES + 1))))
    assert await stream.wait_closed() == MESSAGE_TOO_BIG
    assert not stream.frames


async def test_oversize_frame_after_hello_is_closed_1009(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A connected client sending a frame over the maximum size is closed with 1009."""
    device = await stream_device()
    stream = await connect_stream(server, device.session_token)
    await stream.wait_for_seq(1)
    await stream.send_text(" " * (DEFAULT_MAX_FRAME_BYTES + 1))
    assert await stream.wait_closed() == MESSAGE_TOO_BIG


async def test_frame_over_a_configured_limit_is_closed_1009(
    tuned_server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """OMNICART_MAX_FRAME_BYTES sets the limit: a hello under it is served, one frame over it closes with 1009."""
    limit = int(TUNED_ENV["OMNICART_MAX_FRAME_BYTES"])
    device = await stream_device(tuned_server)
    accepted = await connect_stream(tuned_server, device.session_token)
    await accepted.wait_for_welcome()

    refused = await connect_stream(tuned_server)
    await refused.send_text(json.dumps(hello_frame(device.session_token) | {"pad": "x" * limit}))
    assert await refused.wait_closed() == MESSAGE_TOO_BIG


async def test_garbage_first_frame_is_closed_4400(server: ServerProcess, connect_stream: ConnectStream) -> None:
    """A first frame that is not JSON closes the connection with 4400."""
    stream = await connect_stream(server)
    await stream.send_text("hello? {not json")
    assert await stream.wait_closed() == CloseCode.BAD_FRAME
    assert not stream.frames


async def test_binary_garbage_first_frame_is_closed_4400(server: ServerProcess, connect_stream: ConnectStream) -> None:
    """A first frame of binary garbage closes the connection with 4400."""
    stream = await connect_stream(server)
    await stream.send_bytes(b"\x00\xff\xfe garbage")
    assert await stream.wait_closed() == CloseCode.BAD_FRAME


async def test_hello_with_unknown_field_is_closed_4400(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A hello with a field the protocol does not know (client frames forbid unknown fields) is closed with 4400."""
    device = await stream_device()
    stream = await connect_stream(server)
    await stream.send_json(hello_frame(device.session_token) | {"sinse": 3})
    assert await stream.wait_closed() == CloseCode.BAD_FRAME
    assert not stream.frames


async def test_hello_with_a_negative_since_is_closed_4400(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A hello whose `since` is not a seq (negative) is closed with 4400 before anything is sent."""
    device = await stream_device()
    stream = await connect_stream(server, device.session_token, since=-1)
    assert await stream.wait_closed() == CloseCode.BAD_FRAME
    assert not stream.frames


async def test_first_frame_not_hello_is_closed_4400(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A well-formed frame other than hello (a refresh) as the first frame closes the connection with 4400."""
    stream = await connect_stream(server)
    await stream.send_json({"type": "refresh"})
    assert await stream.wait_closed() == CloseCode.BAD_FRAME
    assert not stream.frames


async def test_unknown_frame_type_is_closed_4400(server: ServerProcess, connect_stream: ConnectStream) -> None:
    """A JSON frame with an unknown type is closed with 4400."""
    stream = await connect_stream(server)
    await stream.send_json({"type": "subscribe", "channel": "everything"})
    assert await stream.wait_closed() == CloseCode.BAD_FRAME


async def test_garbage_after_hello_is_closed_4400(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A connected client sending a frame that is not JSON is closed with 4400."""
    device = await stream_device()
    stream = await connect_stream(server, device.session_token)
    await stream.wait_for_seq(1)
    await stream.send_text("}{")
    assert await stream.wait_closed() == CloseCode.BAD_FRAME


async def test_second_hello_is_closed_4400(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A hello on a connection that already sent one is out of turn: closed with 4400."""
    device = await stream_device()
    stream = await connect_stream(server, device.session_token)
    await stream.wait_for_seq(1)
    await stream.send_json(hello_frame(device.session_token))
    assert await stream.wait_closed() == CloseCode.BAD_FRAME


async def test_no_hello_in_time_is_closed_4408(tuned_server: ServerProcess, connect_stream: ConnectStream) -> None:
    """A connection that sends nothing within OMNICART_HELLO_TIMEOUT_SECONDS (1 s here) is closed with 4408."""
    silent = await connect_stream(tuned_server, name="silent")
    assert await silent.wait_closed(timeout=10) == CloseCode.HELLO_TIMEOUT
    assert not silent.frames


async def test_hello_timeout_does_not_cut_connected_clients(
    tuned_server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """The hello timeout only bounds the wait for hello: a connected client stays past it and gets live events."""
    device = await stream_device(tuned_server)
    stream = await connect_stream(tuned_server, device.session_token)
    await stream.wait_for_seq(1)
    # A connection opened after this one and closed for its silence proves more than the timeout has passed.
    silent = await connect_stream(tuned_server, name="silent")
    assert await silent.wait_closed(timeout=10) == CloseCode.HELLO_TIMEOUT
    await device.add(SKUS[0])
    await stream.wait_for_seq(2)
    assert not stream.closed
