"""The small known catalog the test servers load, so tests can check prices and titles exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CURRENCY = "EUR"
CATALOG: list[dict[str, Any]] = [
    {"sku": "ESP-CUP", "title": "Espresso Cup", "unit_price": 450, "currency": CURRENCY},
    {"sku": "TEA-POT", "title": "Ceramic Teapot", "unit_price": 2999, "currency": CURRENCY},
    {"sku": "MUG-BLK", "title": "Black Mug", "unit_price": 1250, "currency": CURRENCY},
    {"sku": "BEANS-1KG", "title": "Coffee Beans 1 kg", "unit_price": 1890, "currency": CURRENCY},
    {"sku": "FILTERS-100", "title": "Paper Filters (100)", "unit_price": 399, "currency": CURRENCY},
]
SKUS: list[str] = [item["sku"] for item in CATALOG]
PRICES: dict[str, int] = {item["sku"]: item["unit_price"] for item in CATALOG}
TITLES: dict[str, str] = {item["sku"]: item["title"] for item in CATALOG}


def write_catalog(path: Path) -> Path:
    """Write CATALOG as a catalog file (a JSON array of CatalogItem) and return its path."""
    path.write_text(json.dumps(CATALOG, indent=2))
    return path
