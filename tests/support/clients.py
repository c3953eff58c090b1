"""HTTP clients for tests, sharing one TLS context: loading the CA bundle costs ~25 ms per new httpx client."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from tests.support.devices import REQUEST_TIMEOUT

_TLS = httpx.create_ssl_context()
"""Built once; the servers under test speak plain HTTP, so it is only ever configured, never used."""


def http_client(
    base_url: str, headers: Mapping[str, str] | None = None, *, local_address: str | None = None
) -> httpx.Client:
    """A client of the server at `base_url`, connecting from `local_address` when given (the caller closes it)."""
    transport = httpx.HTTPTransport(verify=_TLS, local_address=local_address)
    return httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT, transport=transport, verify=_TLS)


def async_http_client(
    base_url: str, headers: Mapping[str, str] | None = None, *, local_address: str | None = None
) -> httpx.AsyncClient:
    """The async twin of `http_client` (the caller closes it)."""
    transport = httpx.AsyncHTTPTransport(verify=_TLS, local_address=local_address)
    return httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT, transport=transport, verify=_TLS
    )
