"""The catalog: loaded once from a JSON file (or the bundled demo), the only source of prices."""

from __future__ import annotations

from pathlib import Path

import msgspec

from omnicart.protocol.catalog import CatalogItem

DEMO_CATALOG = Path(__file__).with_name("demo_catalog.json")
SEARCH_LIMIT = 50


class CatalogError(Exception):
    """The catalog file cannot be served; the message says what to fix."""


class Catalog:
    """Items by SKU, in the file's order; one currency for the whole catalog (a cart has one currency)."""

    def __init__(self, items: list[CatalogItem]) -> None:
        if not items:
            raise CatalogError("The catalog is empty: add at least one item.")
        currencies = {item.currency for item in items}
        if len(currencies) > 1:
            raise CatalogError(f"The catalog mixes currencies ({', '.join(sorted(currencies))}); use one per server.")
        self.currency = items[0].currency
        self._by_sku: dict[str, CatalogItem] = {}
        for item in items:
            if item.sku in self._by_sku:
                raise CatalogError(f"SKU {item.sku!r} appears twice in the catalog.")
            self._by_sku[item.sku] = item

    def get(self, sku: str) -> CatalogItem | None:
        return self._by_sku.get(sku)

    def search(self, query: str = "") -> list[CatalogItem]:
        """Items whose SKU or title contains `query`, case-insensitively."""
        needle = query.strip().casefold()
        found = [
            item for item in self._by_sku.values() if needle in item.sku.casefold() or needle in item.title.casefold()
        ]
        return found[:SEARCH_LIMIT]


def load_catalog(path: str | None) -> Catalog:
    """Read a catalog file, a JSON array of {sku, title, unit_price, currency}; None loads the demo catalog."""
    source = Path(path) if path else DEMO_CATALOG
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise CatalogError(f"Cannot read catalog {source}: {exc.strerror}.") from exc
    try:
        items = msgspec.json.decode(raw, type=list[CatalogItem], strict=True)
    except msgspec.DecodeError as exc:
        raise CatalogError(f"Catalog {source} is not a valid catalog file: {exc}.") from exc
    return Catalog(items)
