"""A device that stops reading is cut with 4008 once its bounded queue (OMNICART_STREAM_QUEUE_SIZE) overflows.

The customer's other devices get every event meanwhile, and the cut device catches up by resuming from its last seq.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest

from omnicart.protocol.problems import CloseCode
from tests.support.devices import add_item, set_quantity
from tests.support.stream_fixtures import ConnectStream, OpenStreamDevice, StartCatalogServer

QUEUE_SIZE = 8
ITEMS = 100
TITLE_CHARS = 5000
WRITES = 40
"""Each event carries the whole cart, ~ITEMS x TITLE_CHARS bytes (~500 KB): 40 of them (~20 MB) are far more than
the socket buffers of a reader that stopped (receive buffer fixed at 4 KiB) and the server's queue can hold."""


def _big_catalog(path: Path) -> Path:
    # Random titles: the stream's permessage-deflate would shrink repetitive ones to almost nothing.
    rng = random.Random(4008)
    alphabet = string.ascii_letters + string.digits
    items = [
        {
            "sku": f"LONG-{n:03d}",
            "title": "".join(rng.choices(alphabet, k=TITLE_CHARS)),
            "unit_price": 100 + n,
            "currency": "EUR",
        }
        for n in range(ITEMS)
    ]
    path.write_text(json.dumps(items))
    return path


@pytest.mark.slow
async def test_slow_reader_is_cut_4008_while_others_get_everything_and_it_catches_up(
    tmp_path: Path,
    start_catalog_server: StartCatalogServer,
    stream_device: OpenStreamDevice,
    connect_stream: ConnectStream,
) -> None:
    """A stalled reader is closed with 4008; a fast device gets every event; the stalled one resumes and catches up."""
    server = start_catalog_server(
        _big_catalog(tmp_path / "big-catalog.json"), env={"OMNICART_STREAM_QUEUE_SIZE": str(QUEUE_SIZE)}
    )
    writer = await stream_device(server, device="writer")
    reader = await stream_device(server, device="slow-tablet", customer_token=writer.customer_token)
    watcher = await stream_device(server, device="fast-phone", customer_token=writer.customer_token)

    slow = await connect_stream(server, reader.session_token, name="slow", max_queue=1, receive_buffer=4096)
    fast = await connect_stream(server, watcher.session_token, name="fast")
    start = await writer.head()
    await slow.wait_for_seq(start)
    await fast.wait_for_seq(start)
    slow.stop_reading()

    cart = await writer.apply(*(add_item(f"LONG-{n:03d}") for n in range(ITEMS)))
    line = cart["lines"][0]["line_id"]
    for n in range(WRITES - 1):
        cart = await writer.apply(set_quantity(line, 2 + n % 5))
    head = start + WRITES

    await fast.wait_for_seq(head, timeout=60)
    assert fast.seqs == list(range(1, head + 1))
    assert not fast.closed, f"the fast reader was cut too: {fast}"
    assert fast.events[-1]["data"]["cart"] == cart

    slow.resume_reading()
    assert await slow.wait_closed(timeout=30) == CloseCode.SLOW_CONSUMER
    held = slow.last_seq or 0
    assert slow.seqs == list(range(1, held + 1))
    assert held < head, "the stalled reader got everything: it was never too slow"

    resumed = await connect_stream(server, reader.session_token, since=held, name="slow-resumed")
    await resumed.wait_for_seq(head, timeout=30)
    assert slow.seqs + resumed.seqs == list(range(1, head + 1))
    assert resumed.events[-1]["data"]["cart"] == await writer.cart()
    assert not resumed.closed
