"""Trusted backends as tests use them: API keys made with `omnicart keys create`, and the identity routes."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from tests.support.clients import async_http_client, http_client
from tests.support.devices import Device, bearer, describe
from tests.support.server import run_omnicart
from tests.support.session_created import device_from

if TYPE_CHECKING:
    from tests.support.server import ServerProcess

JSON = dict[str, Any]
IDENTITY_WRITE = "identity:write"
_KEY = re.compile(r"^ock_[A-Za-z0-9_-]+$", re.MULTILINE)
_created: dict[tuple[str, tuple[str, ...]], str] = {}
"""Keys already made per (database, scopes): a key of the shared server's database serves every test."""


def create_api_key(db_url: str, *scopes: str, name: str = "tests") -> str:
    """A new API key with these scopes, made with `omnicart keys create` on the server's database."""
    args = ["keys", "create", "--name", name, "--db", db_url]
    for scope in scopes:
        args += ["--scope", scope]
    output = run_omnicart(args)
    found: list[str] = _KEY.findall(output)
    assert len(found) == 1, f"expected one key in the output of omnicart {' '.join(args)}:\n{output}"
    return found[0]


def api_key(server: ServerProcess, *scopes: str) -> str:
    """A key with these scopes for the server's database, made once and reused."""
    cache_key = (server.db_url, tuple(sorted(scopes)))
    if cache_key not in _created:
        _created[cache_key] = create_api_key(server.db_url, *scopes)
    return _created[cache_key]


def trusted_backend(server: ServerProcess) -> Backend:
    """A backend of the server with an `identity:write` key (a context manager: closed at the end of the `with`)."""
    return Backend(server.url, api_key(server, IDENTITY_WRITE))


@dataclass
class Backend:
    """A trusted backend (CRM, messaging bot, store till) calling the identity routes with its API key."""

    base_url: str
    key: str
    client: httpx.Client = field(init=False, repr=False)
    opened: list[Device] = field(default_factory=list, repr=False)
    """Devices opened by identity; closed with the backend."""

    def __post_init__(self) -> None:
        self.client = http_client(self.base_url, bearer(self.key))

    def post_link(self, session_id: str, kind: str, value: str, strategy: str | None = None) -> httpx.Response:
        """POST /v1/identities and return the raw response."""
        body: JSON = {"session_id": session_id, "kind": kind, "value": value}
        if strategy is not None:
            body["strategy"] = strategy
        return self.client.post("/v1/identities", json=body)

    def link(self, device: Device, kind: str, value: str, strategy: str | None = None) -> JSON:
        """Link the identity to the device's customer, which must succeed; return the LinkReport."""
        response = self.post_link(device.session_id, kind, value, strategy)
        assert response.status_code == 200, describe(response)
        report: JSON = response.json()
        return report

    def post_open(self, kind: str, value: str, channel: str, device: str = "bot") -> httpx.Response:
        """POST /v1/sessions/by-identity and return the raw response."""
        body: JSON = {"kind": kind, "value": value, "channel": channel, "device": device}
        return self.client.post("/v1/sessions/by-identity", json=body)

    def open(self, kind: str, value: str, channel: str, device: str = "bot") -> Device:
        """Open a session for whoever has this identity, which must answer 201; closed with the backend."""
        opened = device_from(self.post_open(kind, value, channel, device), channel, device)
        self.opened.append(opened)
        return opened

    def async_client(self) -> httpx.AsyncClient:
        """A new async client with this backend's key (the caller closes it)."""
        return async_http_client(self.base_url, bearer(self.key))

    def close(self) -> None:
        for device in self.opened:
            device.close()
        self.client.close()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def new_email() -> str:
    """An email address no other test uses."""
    return f"shopper-{uuid.uuid4().hex[:12]}@example.com"


def new_mobile() -> tuple[str, str, str]:
    """A Spanish mobile number no other test uses: (spaced '+34 6xx xx xx xx', '00346xxxxxxxx', E.164)."""
    digits = "6" + "".join(secrets.choice("0123456789") for _ in range(8))
    spaced = f"+34 {digits[:3]} {digits[3:5]} {digits[5:7]} {digits[7:]}"
    return spaced, f"0034{digits}", f"+34{digits}"


def new_handle() -> str:
    """An Instagram handle (lowercase, no '@') no other test uses."""
    return f"shopper_{secrets.token_hex(5)}"
