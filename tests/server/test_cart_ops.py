"""Cart ops through POST /v1/cart/ops: catalog prices, one line per SKU, versions and atomic batches."""

from __future__ import annotations

from datetime import datetime

from tests.support.catalog import CURRENCY, PRICES, SKUS, TITLES
from tests.support.devices import (
    Device,
    OpenDevice,
    add_item,
    clear,
    describe,
    line_for,
    remove_item,
    set_quantity,
)
from tests.support.problems import assert_problem

CUP, TEAPOT, MUG = SKUS[0], SKUS[1], SKUS[2]


def test_new_customer_has_an_empty_cart(device: Device) -> None:
    """A new customer's cart has no lines, zero totals and the catalog's currency."""
    cart = device.cart()
    assert cart["lines"] == []
    assert (cart["subtotal"], cart["item_count"], cart["currency"]) == (0, 0, CURRENCY)
    assert isinstance(cart["cart_id"], str) and cart["cart_id"]
    assert isinstance(cart["version"], int)
    datetime.fromisoformat(cart["updated_at"].replace("Z", "+00:00"))


def test_add_item_uses_the_catalog_price_and_title(device: Device) -> None:
    """add_item makes a line priced and titled from the catalog, totals in integer minor units."""
    cart = device.add(TEAPOT, 3)
    line = line_for(cart, TEAPOT)
    assert (line["title"], line["qty"], line["unit_price"]) == (TITLES[TEAPOT], 3, PRICES[TEAPOT])
    assert line["line_total"] == 3 * PRICES[TEAPOT]
    assert (cart["subtotal"], cart["item_count"]) == (3 * PRICES[TEAPOT], 3)
    assert isinstance(line["line_id"], str) and line["line_id"]


def test_add_item_defaults_to_one(device: Device) -> None:
    """add_item without qty adds one."""
    cart = device.apply({"op": "add_item", "sku": CUP})
    assert line_for(cart, CUP)["qty"] == 1


def test_adding_a_sku_again_raises_its_quantity(device: Device) -> None:
    """add_item of a SKU already in the cart raises that line's quantity instead of adding a line."""
    first = device.add(MUG, 2)
    second = device.add(MUG, 5)
    assert len(second["lines"]) == 1
    assert line_for(second, MUG)["qty"] == 7
    assert line_for(second, MUG)["line_id"] == line_for(first, MUG)["line_id"]


def test_adding_a_sku_twice_in_one_batch_makes_one_line(device: Device) -> None:
    """Two add_item ops of one SKU in a batch end as one line with the summed quantity."""
    cart = device.apply(add_item(CUP, 1), add_item(CUP, 2))
    assert len(cart["lines"]) == 1
    assert line_for(cart, CUP)["qty"] == 3


def test_subtotal_and_item_count_sum_every_line(device: Device) -> None:
    """The subtotal is the sum of line totals and item_count the sum of quantities."""
    cart = device.apply(add_item(CUP, 2), add_item(TEAPOT, 1), add_item(MUG, 4))
    assert cart["subtotal"] == 2 * PRICES[CUP] + PRICES[TEAPOT] + 4 * PRICES[MUG]
    assert cart["subtotal"] == sum(line["line_total"] for line in cart["lines"])
    assert cart["item_count"] == 7


def test_set_quantity_replaces_the_quantity(device: Device) -> None:
    """set_quantity sets a line's quantity and its total."""
    line_id = line_for(device.add(MUG, 2), MUG)["line_id"]
    cart = device.apply(set_quantity(line_id, 9))
    line = line_for(cart, MUG)
    assert (line["qty"], line["line_total"]) == (9, 9 * PRICES[MUG])


def test_remove_item_drops_the_line(device: Device) -> None:
    """remove_item drops only that line."""
    cart = device.apply(add_item(CUP, 1), add_item(TEAPOT, 1))
    cart = device.apply(remove_item(line_for(cart, CUP)["line_id"]))
    assert [line["sku"] for line in cart["lines"]] == [TEAPOT]
    assert cart["subtotal"] == PRICES[TEAPOT]


def test_clear_empties_the_cart(device: Device) -> None:
    """A clear op removes every line and zeroes the totals."""
    device.apply(add_item(CUP, 1), add_item(TEAPOT, 2))
    cart = device.apply(clear())
    assert (cart["lines"], cart["subtotal"], cart["item_count"]) == ([], 0, 0)


def test_batch_raises_version_by_one(device: Device) -> None:
    """A batch of several ops raises the cart version by exactly one."""
    before = device.cart()["version"]
    cart = device.apply(add_item(CUP, 1), add_item(TEAPOT, 1), add_item(MUG, 1))
    assert cart["version"] == before + 1


def test_ops_answer_is_the_stored_cart(device: Device) -> None:
    """The cart returned by POST /v1/cart/ops is what GET /v1/cart returns next."""
    answered = device.apply(add_item(CUP, 2), add_item(MUG, 1))
    assert device.cart() == answered


def test_one_cart_for_all_devices(device: Device, open_device: OpenDevice) -> None:
    """Every device of the customer works on the same cart."""
    phone = open_device(channel="mobile", customer_token=device.customer_token)
    device.add(CUP, 1)
    phone.add(TEAPOT, 1)
    cart = device.cart()
    assert cart["cart_id"] == phone.cart()["cart_id"]
    assert {line["sku"] for line in cart["lines"]} == {CUP, TEAPOT}


def test_carts_are_separate_per_customer(device: Device, open_device: OpenDevice) -> None:
    """One customer's adds never show in another customer's cart."""
    stranger = open_device()
    device.add(CUP, 1)
    assert stranger.cart()["lines"] == []
    assert stranger.cart()["cart_id"] != device.cart()["cart_id"]


def test_matching_expected_version_applies(device: Device) -> None:
    """A batch with the cart's current expected_version applies."""
    version = device.cart()["version"]
    cart = device.apply(add_item(CUP, 1), expected_version=version)
    assert cart["version"] == version + 1


def test_stale_expected_version_conflicts(device: Device) -> None:
    """A stale expected_version gets 409 version_conflict carrying the current version; the cart is unchanged."""
    stale = device.add(CUP, 1)["version"]
    current = device.add(TEAPOT, 1)
    response = device.post_ops({"ops": [clear()], "expected_version": stale})
    problem = assert_problem(response, 409, "version_conflict")
    assert problem.get("current_version") == current["version"], describe(response)
    assert device.cart() == current


def test_failing_op_rolls_back_the_whole_batch(device: Device) -> None:
    """When one op of a batch is refused, the ops before it are not applied either."""
    before = device.add(MUG, 1)
    response = device.post_ops({"ops": [add_item(CUP, 1), clear(), add_item("NO-SUCH-SKU", 1)]})
    assert_problem(response, 422, "unknown_sku")
    assert device.cart() == before


def test_line_removed_earlier_in_batch_is_unknown_later(device: Device) -> None:
    """Ops apply in order: setting the quantity of a line removed earlier in the batch is refused, atomically."""
    before = device.add(MUG, 1)
    line_id = line_for(before, MUG)["line_id"]
    response = device.post_ops({"ops": [remove_item(line_id), set_quantity(line_id, 2)]})
    assert_problem(response, 422, "unknown_line")
    assert device.cart() == before


def test_set_price_by_shopper_is_forbidden(device: Device) -> None:
    """A shopper's set_price op gets 403 price_not_allowed and the price stays the catalog's."""
    before = device.add(TEAPOT, 1)
    line_id = line_for(before, TEAPOT)["line_id"]
    response = device.post_ops({"ops": [{"op": "set_price", "line_id": line_id, "unit_price": 1, "reason": "pls"}]})
    assert_problem(response, 403, "price_not_allowed")
    assert device.cart() == before


def test_unit_price_in_add_item_is_refused(device: Device) -> None:
    """A price smuggled into add_item is refused (422 invalid_body), never used."""
    response = device.post_ops({"ops": [{"op": "add_item", "sku": CUP, "qty": 1, "unit_price": 1}]})
    assert_problem(response, 422, "invalid_body")
    assert device.cart()["lines"] == []
