"""Request bodies decoded strictly, in one pass, into the route's msgspec Struct.

Litestar decodes JSON to builtins and then converts them with `strict=False`, which would read the string "2" as a
quantity of 2. Decoding the raw body with a typed msgspec decoder refuses wrong types and keeps the JSON path of
the error (`$.ops[0].qty`); Litestar then passes the ready Struct through untouched.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.types import Empty

_decoders: dict[type[msgspec.Struct], msgspec.json.Decoder[Any]] = {}


def _decoder_for(target: type[msgspec.Struct]) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(target)
    if decoder is None:
        decoder = _decoders[target] = msgspec.json.Decoder(target)
    return decoder


class StrictBodyRequest(Request[Any, Any, Any]):
    """A Request whose JSON body is decoded straight into the handler's `data` Struct."""

    async def json(self) -> Any:
        if self._json is Empty:
            field = self.route_handler.parsed_data_field
            target = field.annotation if field is not None else None
            if isinstance(target, type) and issubclass(target, msgspec.Struct):
                self._json = self._connection_state.json = _decoder_for(target).decode(await self.body() or b"null")
        return await super().json()
