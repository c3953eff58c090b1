"""GET /v1/catalog and /v1/catalog/{sku}: the catalog file is the only source of items and prices."""

from __future__ import annotations

import pytest

from tests.support.catalog import CATALOG, SKUS
from tests.support.devices import Device, OpenDevice, describe
from tests.support.problems import assert_problem
from tests.support.server import StartServer

ITEM_FIELDS = {"sku", "title", "unit_price", "currency"}


def by_sku(items: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {item["sku"]: {key: item[key] for key in ITEM_FIELDS} for item in items}


def test_catalog_lists_the_file_items(device: Device) -> None:
    """GET /v1/catalog returns exactly the items of the catalog file, with prices in minor units."""
    response = device.client.get("/v1/catalog")
    assert response.status_code == 200, describe(response)
    assert by_sku(response.json()["items"]) == by_sku(CATALOG)


def test_catalog_search_matches_titles(device: Device) -> None:
    """q= returns the items whose title contains the words, and not the others."""
    response = device.client.get("/v1/catalog", params={"q": "Teapot"})
    assert response.status_code == 200, describe(response)
    assert [item["sku"] for item in response.json()["items"]] == ["TEA-POT"]


def test_catalog_search_without_match_is_empty(device: Device) -> None:
    """q= that matches nothing returns an empty list, not an error."""
    response = device.client.get("/v1/catalog", params={"q": "zzzz-nothing-like-this"})
    assert response.status_code == 200, describe(response)
    assert response.json()["items"] == []


@pytest.mark.parametrize("sku", SKUS)
def test_catalog_item_by_sku(device: Device, sku: str) -> None:
    """GET /v1/catalog/{sku} returns that item as in the file."""
    response = device.client.get(f"/v1/catalog/{sku}")
    assert response.status_code == 200, describe(response)
    assert by_sku([response.json()]) == {sku: by_sku(CATALOG)[sku]}


def test_unknown_catalog_sku_is_not_found(device: Device) -> None:
    """GET /v1/catalog/{sku} of an unknown SKU answers 404 not_found."""
    assert_problem(device.client.get("/v1/catalog/NO-SUCH-SKU"), 404, "not_found")


def test_demo_catalog_is_served_without_a_file(start_server: StartServer, open_device: OpenDevice) -> None:
    """Without --catalog the server serves the bundled demo catalog, whose items can be added to a cart."""
    server = start_server(catalog=False)
    shopper = open_device(server)
    items = shopper.client.get("/v1/catalog").json()["items"]
    assert items, "demo catalog is empty"
    for item in items:
        assert set(item) >= ITEM_FIELDS and isinstance(item["unit_price"], int), item
    cart = shopper.add(items[0]["sku"], 2)
    assert cart["subtotal"] == 2 * items[0]["unit_price"]
