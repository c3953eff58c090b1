"""Client (sync) and AsyncClient: the same calls, retries and credentials, mirrored method for method."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from omnicart import _calls
from omnicart._backoff import backoff
from omnicart._http import Call, may_resend, read_answer, retry_delay
from omnicart._resources import (
    AsyncCartApi,
    AsyncHandoffApi,
    AsyncSessionsApi,
    AsyncTransactionsApi,
    CartApi,
    HandoffApi,
    SessionsApi,
    TransactionsApi,
)
from omnicart.errors import AuthError, ProblemError, TransportError
from omnicart.live import LiveConnection, LiveThread
from omnicart.protocol.problems import ErrorCode
from omnicart.tokens import Credentials, MemoryTokenStore, TokenStore

if TYPE_CHECKING:
    from omnicart.live import Change
    from omnicart.protocol.assist import AgentSession, AssistOffer
    from omnicart.protocol.catalog import CatalogItem, CatalogPage
    from omnicart.protocol.events import EventPage
    from omnicart.protocol.identity import CustomerProfile
    from omnicart.protocol.sessions import SessionCreated
    from omnicart.protocol.timeline import Timeline

T = TypeVar("T")


class _Base:
    """Configuration and credentials shared by both clients."""

    def __init__(self, base_url: str, *, channel: str, device: str, store: TokenStore | None, max_retries: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.channel = channel
        self.device = device
        self.store = store or MemoryTokenStore()
        self.credentials = self.store.load()
        self.max_retries = max_retries
        self.agent_id: str | None = None
        """Set on an agent app's client: its session cannot be reopened alone, only picked up again by PIN."""

    @property
    def customer_id(self) -> str | None:
        return self.credentials.customer_id

    @property
    def session_id(self) -> str | None:
        return self.credentials.session_id

    def _adopt(self, created: SessionCreated) -> None:
        """Take a new session as this device's, and keep it in the store."""
        self.credentials = Credentials(
            customer_id=created.customer_id,
            customer_token=created.customer_token,
            session_id=created.session_id,
            session_token=created.session_token,
        )
        self.store.save(self.credentials)

    def _adopt_agent(self, agent_id: str, session: AgentSession) -> None:
        self.agent_id = agent_id
        self.credentials = Credentials(
            customer_id=session.customer_id, session_id=session.session_id, session_token=session.session_token
        )
        self.store.save(self.credentials)

    def _adopt_token(self, token: str) -> None:
        self.credentials.session_token = token
        self.store.save(self.credentials)

    def _renewable(self, call: Call[Any], error: ProblemError) -> bool:
        """An expired session token is renewed through the customer token (once), and the call sent again.

        Only expiry: a revoked session stays revoked for this call, and an agent session cannot renew itself.
        """
        return (
            error.code == ErrorCode.TOKEN_EXPIRED
            and call.credential is None
            and self.agent_id is None
            and self.credentials.customer_token is not None
        )

    def _renewal(self) -> Call[SessionCreated]:
        return _calls.open_session(self.channel, self.device, self.credentials.customer_token)

    def _delays(self) -> Iterator[float]:
        return backoff(first=0.2, cap=5.0)


class Client(_Base):
    """A device's connection to Omnicart: `Client.start(...)`, then `client.cart.add("SKU", 2)`."""

    def __init__(
        self,
        base_url: str,
        *,
        channel: str,
        device: str,
        store: TokenStore | None = None,
        max_retries: int = 4,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, channel=channel, device=device, store=store, max_retries=max_retries)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self.cart = CartApi(self)
        self.sessions = SessionsApi(self)
        self.handoff = HandoffApi(self)
        self.transactions = TransactionsApi(self)

    @classmethod
    def start(
        cls, base_url: str, *, channel: str, device: str, customer_token: str | None = None, **options: Any
    ) -> Client:
        """Resume the stored session, or open one (for `customer_token`'s customer, else the stored or a new one)."""
        client = cls(base_url, channel=channel, device=device, **options)
        with client._closed_on_failure():
            client.resume(customer_token)
        return client

    @classmethod
    def agent(
        cls, base_url: str, *, api_key: str, agent_id: str, pin: str, device: str = "agent-console", **options: Any
    ) -> Client:
        """A contact-center agent on the customer who read out `pin` (an API key with scope `agent`)."""
        client = cls(base_url, channel="agent", device=device, **options)
        with client._closed_on_failure():
            client._adopt_agent(agent_id, client.run(_calls.agent_pickup(api_key, agent_id, device, pin)))
        return client

    def resume(self, customer_token: str | None = None) -> None:
        if self.agent_id is not None:
            self.run(_calls.get_cart())  # AuthError once the agent session ended: the shopper must consent again
            return
        if customer_token is None and self.credentials.session_token:
            try:
                self.run(_calls.get_cart())
                return
            except AuthError:
                pass
        token = customer_token or self.credentials.customer_token
        try:
            self._adopt(self.run(_calls.open_session(self.channel, self.device, token)))
        except AuthError:
            if customer_token is not None:
                raise
            self._adopt(self.run(_calls.open_session(self.channel, self.device, None)))  # the stored customer is gone

    def run(self, call: Call[T], *, retries: int | None = None, renew: bool = True) -> T:
        """Send a call; retry transport errors, 5xx and 429 with backoff (writes keep their Idempotency-Key)."""
        delays = self._delays()
        attempts = self.max_retries if retries is None else retries
        for attempt in range(attempts + 1):
            last = attempt == attempts
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    headers=call.headers(self.credentials.session_token),
                    content=call.content(),
                )
            except httpx.TransportError as exc:
                if last or not may_resend(call, exc):
                    raise TransportError(f"{call.method} {call.path}: {exc}") from exc
                time.sleep(next(delays))
                continue
            try:
                return read_answer(call, response.status_code, response.content)
            except ProblemError as error:
                if renew and self._renewable(call, error):
                    self._adopt(self.run(self._renewal(), renew=False))
                    return self.run(call, retries=retries, renew=False)
                delay = retry_delay(call, error, next(delays))
                if delay is None or last:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    def events(self, since: int = 0, limit: int = 100) -> EventPage:
        return self.run(_calls.list_events(since, limit))

    def timeline(self) -> Timeline:
        return self.run(_calls.timeline())

    def customer(self) -> CustomerProfile:
        return self.run(_calls.customer())

    def catalog(self, query: str = "") -> CatalogPage:
        return self.run(_calls.search_catalog(query))

    def catalog_item(self, sku: str) -> CatalogItem:
        return self.run(_calls.catalog_item(sku))

    def ask_for_help(self) -> AssistOffer:
        """A PIN to read out to the contact center: consent for an agent to work on this cart."""
        return self.run(_calls.offer_assist())

    def withdraw_help(self, consent_id: str) -> None:
        """End the consent: every agent session opened with its PIN stops at once."""
        self.run(_calls.revoke_assist(consent_id))

    def live(self, on_change: Callable[[Change], None] | None = None, *, refresh_every: float = 600.0) -> LiveThread:
        """`with client.live(on_change=print) as live:` a local copy kept live on a background thread."""
        return LiveThread(self, on_change, refresh_every=refresh_every)

    def close(self) -> None:
        self._http.close()

    @contextlib.contextmanager
    def _closed_on_failure(self) -> Iterator[None]:
        """A client that could not start is closed before the error reaches the caller, who never holds it."""
        try:
            yield
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """The asyncio twin of Client; `live()` keeps a local copy of the customer's state from the stream."""

    def __init__(
        self,
        base_url: str,
        *,
        channel: str,
        device: str,
        store: TokenStore | None = None,
        max_retries: int = 4,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, channel=channel, device=device, store=store, max_retries=max_retries)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)
        self.cart = AsyncCartApi(self)
        self.sessions = AsyncSessionsApi(self)
        self.handoff = AsyncHandoffApi(self)
        self.transactions = AsyncTransactionsApi(self)

    @classmethod
    async def start(
        cls, base_url: str, *, channel: str, device: str, customer_token: str | None = None, **options: Any
    ) -> AsyncClient:
        client = cls(base_url, channel=channel, device=device, **options)
        async with client._closed_on_failure():
            await client.resume(customer_token)
        return client

    @classmethod
    async def agent(
        cls, base_url: str, *, api_key: str, agent_id: str, pin: str, device: str = "agent-console", **options: Any
    ) -> AsyncClient:
        client = cls(base_url, channel="agent", device=device, **options)
        async with client._closed_on_failure():
            client._adopt_agent(agent_id, await client.run(_calls.agent_pickup(api_key, agent_id, device, pin)))
        return client

    async def resume(self, customer_token: str | None = None) -> None:
        if self.agent_id is not None:
            await self.run(_calls.get_cart())
            return
        if customer_token is None and self.credentials.session_token:
            try:
                await self.run(_calls.get_cart())
                return
            except AuthError:
                pass
        token = customer_token or self.credentials.customer_token
        try:
            self._adopt(await self.run(_calls.open_session(self.channel, self.device, token)))
        except AuthError:
            if customer_token is not None:
                raise
            self._adopt(await self.run(_calls.open_session(self.channel, self.device, None)))

    async def run(self, call: Call[T], *, retries: int | None = None, renew: bool = True) -> T:
        delays = self._delays()
        attempts = self.max_retries if retries is None else retries
        for attempt in range(attempts + 1):
            last = attempt == attempts
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    headers=call.headers(self.credentials.session_token),
                    content=call.content(),
                )
            except httpx.TransportError as exc:
                if last or not may_resend(call, exc):
                    raise TransportError(f"{call.method} {call.path}: {exc}") from exc
                await asyncio.sleep(next(delays))
                continue
            try:
                return read_answer(call, response.status_code, response.content)
            except ProblemError as error:
                if renew and self._renewable(call, error):
                    self._adopt(await self.run(self._renewal(), renew=False))
                    return await self.run(call, retries=retries, renew=False)
                delay = retry_delay(call, error, next(delays))
                if delay is None or last:
                    raise
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def events(self, since: int = 0, limit: int = 100) -> EventPage:
        return await self.run(_calls.list_events(since, limit))

    async def timeline(self) -> Timeline:
        return await self.run(_calls.timeline())

    async def customer(self) -> CustomerProfile:
        return await self.run(_calls.customer())

    async def catalog(self, query: str = "") -> CatalogPage:
        return await self.run(_calls.search_catalog(query))

    async def catalog_item(self, sku: str) -> CatalogItem:
        return await self.run(_calls.catalog_item(sku))

    async def ask_for_help(self) -> AssistOffer:
        return await self.run(_calls.offer_assist())

    async def withdraw_help(self, consent_id: str) -> None:
        await self.run(_calls.revoke_assist(consent_id))

    def live(self, *, refresh_every: float = 600.0) -> LiveConnection:
        """`async with client.live() as live:` a local copy of the cart, transactions and presence, kept live."""
        return LiveConnection(self, refresh_every=refresh_every)

    async def aclose(self) -> None:
        await self._http.aclose()

    @contextlib.asynccontextmanager
    async def _closed_on_failure(self) -> AsyncIterator[None]:
        try:
            yield
        except BaseException:
            await self.aclose()
            raise

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()
