"""Webhook endpoints as an operator's backend manages them (API key, scope `admin`), and checking what arrived."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from tests.support.devices import REQUEST_TIMEOUT, bearer, describe
from tests.support.receiver import Received
from tests.support.wait import wait_for

JSON = dict[str, Any]
ADMIN = "admin"


class WebhookAdmin:
    """Registers, lists and deletes webhook endpoints; `forget_created()` deletes what it registered."""

    def __init__(self, base_url: str, key: str) -> None:
        self.client = httpx.Client(base_url=base_url, headers=bearer(key), timeout=REQUEST_TIMEOUT)
        self._created: list[str] = []

    def post(self, body: object) -> httpx.Response:
        """POST /v1/webhooks with any JSON body; return the raw response (an endpoint it made is deleted later)."""
        response = self.client.post("/v1/webhooks", json=body)
        if response.status_code == 201:
            self._created.append(response.json()["webhook_id"])
        return response

    def create(self, url: str, events: list[str]) -> JSON:
        """Register an endpoint, which must answer 201; return the Webhook (with its secret)."""
        response = self.post({"url": url, "events": events})
        assert response.status_code == 201, describe(response)
        created: JSON = response.json()
        return created

    def listed(self) -> list[JSON]:
        """GET /v1/webhooks, which must answer 200."""
        response = self.client.get("/v1/webhooks")
        assert response.status_code == 200, describe(response)
        items: list[JSON] = response.json()["webhooks"]
        return items

    def delete(self, webhook_id: str) -> httpx.Response:
        return self.client.delete(f"/v1/webhooks/{webhook_id}")

    def deliveries(self, webhook_id: str, customer_id: str | None = None) -> list[JSON]:
        """GET /v1/webhooks/{id}/deliveries (newest first), only the customer's when given."""
        response = self.client.get(f"/v1/webhooks/{webhook_id}/deliveries")
        assert response.status_code == 200, describe(response)
        items: list[JSON] = response.json()["deliveries"]
        return [item for item in items if customer_id is None or item["customer_id"] == customer_id]

    def wait_for_deliveries(
        self,
        webhook_id: str,
        customer_id: str,
        predicate: Callable[[list[JSON]], bool],
        *,
        timeout: float = 15.0,
        message: str = "deliveries",
    ) -> list[JSON]:
        """Poll the customer's deliveries to the endpoint until `predicate` holds; returns them."""

        def probe() -> list[JSON] | None:
            found = self.deliveries(webhook_id, customer_id)
            return found if predicate(found) else None

        return wait_for(probe, timeout, interval=0.1, message=f"{message} of {webhook_id}")

    def forget_created(self) -> None:
        """Delete every endpoint this admin registered (already deleted ones answer 404, which is fine)."""
        for webhook_id in self._created:
            response = self.delete(webhook_id)
            assert response.status_code in (204, 404), describe(response)
        self._created.clear()

    def close(self) -> None:
        self.client.close()


def verify(secret: str, request: Received) -> JSON:
    """The payload of a request whose Standard Webhooks signature checks out with `secret` (raises otherwise)."""
    payload: JSON = Webhook(secret).verify(request.body, request.headers)
    return payload


def all_settled(deliveries: list[JSON]) -> bool:
    """At least one delivery, and none of them still pending."""
    return bool(deliveries) and all(item["status"] != "pending" for item in deliveries)
