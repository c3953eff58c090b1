"""The ceiling: a plain Litestar hello world, served by uvicorn as `omnicart serve` serves Omnicart.

`python -m loadtests.bench` drives it with the same client and the same requests as Omnicart's cart writes
(POST /v1/cart/ops, same headers, same JSON body), so Omnicart's mutations/s divided by this app's requests/s is
the share of what the framework, the HTTP server and the load client allow on this machine that Omnicart's own
work (auth, the cart, the durable commit, the fan-out) leaves. The handler does not read the body: hello world.

    python -m loadtests.ceiling_app --port 8790
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from litestar import Litestar, get, post


@post("/v1/cart/ops", status_code=200)
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def serve(app: Any, port: int) -> None:
    """uvicorn with the settings of `omnicart serve` that bear on speed: uvloop, httptools, no access log."""
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, loop="uvloop", http="httptools", log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.ceiling_app", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    serve(Litestar([hello, health]), parser.parse_args().port)


if __name__ == "__main__":
    main()
