"""Catalog items: the only source of prices."""

from __future__ import annotations

from typing import Annotated

import msgspec

from omnicart.protocol._base import ServerMessage

Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="Stock keeping unit, as in the catalog.")]
MinorUnits = Annotated[int, msgspec.Meta(ge=0, description="Money in integer minor units (cents).")]


class CatalogItem(ServerMessage, frozen=True):
    """A sellable item with its price; also the format of a catalog file (a JSON array of these)."""

    sku: Sku
    title: str
    unit_price: MinorUnits
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$", description="ISO 4217 code.")]


class CatalogPage(ServerMessage, frozen=True):
    """Items matching a search."""

    items: list[CatalogItem]
