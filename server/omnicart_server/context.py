"""Everything a request handler needs, built once per process at start-up and torn down at shutdown."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from omnicart.cancellation import cancel_and_wait
from omnicart.cart_ops import CartLimits
from omnicart.protocol.identity import MergeStrategy
from omnicart_server.assist.service import AssistService
from omnicart_server.auth.tokens import TokenKind, TokenSigner
from omnicart_server.carts.service import CartService
from omnicart_server.catalog.loader import Catalog, load_catalog
from omnicart_server.config import Settings
from omnicart_server.customers.service import CustomerService
from omnicart_server.db.engine import create_engines
from omnicart_server.db.reader import PointReader, create_point_reader
from omnicart_server.db.writer import Writer, create_writer
from omnicart_server.handoff.service import HandoffService
from omnicart_server.jobs.runner import JobRunner
from omnicart_server.metrics import count_committed_events, watch_fanout
from omnicart_server.ratelimit import RateLimiter
from omnicart_server.redis_client import redis_client
from omnicart_server.sessions.service import SessionService
from omnicart_server.stream.fanout import FanOut
from omnicart_server.stream.hub import Hub
from omnicart_server.stream.redis_bus import RedisFanOut
from omnicart_server.transactions.machine import load_machines
from omnicart_server.transactions.service import TransactionService
from omnicart_server.webhooks.dispatcher import WebhookDispatcher
from omnicart_server.webhooks.outbox import WebhookOutbox
from omnicart_server.webhooks.service import WebhookService

logger = logging.getLogger(__name__)


@dataclass
class ServerContext:
    """The process's engines, writer and services."""

    settings: Settings
    write_engine: AsyncEngine
    read_engine: AsyncEngine
    point_reader: PointReader
    writer: Writer
    catalog: Catalog
    sessions: SessionService
    carts: CartService
    hub: Hub
    fanout: FanOut
    limiter: RateLimiter
    handoff: HandoffService
    customers: CustomerService
    assist: AssistService
    transactions: TransactionService
    outbox: WebhookOutbox
    webhooks: WebhookService
    jobs: JobRunner
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> ServerContext:
        signer = TokenSigner(
            settings.signing_keys(),
            {
                TokenKind.SESSION: settings.session_ttl_seconds,
                TokenKind.CUSTOMER: settings.customer_token_ttl_seconds,
            },
        )
        catalog = load_catalog(settings.catalog)
        write_engine, read_engine = create_engines(settings)
        writer = create_writer(write_engine, settings.db_url)
        hub = Hub(settings.max_sockets_per_customer)
        fanout: FanOut = (
            RedisFanOut(
                hub,
                settings.presence_grace_seconds,
                redis_client(settings.redis_url, settings.redis_pool_size, socket_timeout=5),
                read_engine,
            )
            if settings.redis_url
            else FanOut(hub, settings.presence_grace_seconds)
        )
        outbox = WebhookOutbox()
        writer.on_append(outbox.record)
        dispatcher = WebhookDispatcher(writer, read_engine, settings)
        watch_fanout(fanout)
        writer.on_commit(count_committed_events)
        writer.on_commit(fanout.publish)
        limiter = RateLimiter(
            redis_client(settings.redis_url, settings.redis_pool_size, socket_timeout=2) if settings.redis_url else None
        )
        point_reader = create_point_reader(settings.db_url, read_engine)
        sessions = SessionService(
            writer,
            read_engine,
            signer,
            catalog.currency,
            fanout.online,
            timedelta(seconds=settings.agent_session_ttl_seconds),
            settings.session_cache_seconds,
            point_reader,
        )
        limits = CartLimits(settings.max_qty_per_line, settings.max_lines_per_cart, settings.max_ops_per_batch)
        return cls(
            settings=settings,
            write_engine=write_engine,
            read_engine=read_engine,
            point_reader=point_reader,
            writer=writer,
            catalog=catalog,
            sessions=sessions,
            carts=CartService(writer, point_reader, catalog, limits),
            hub=hub,
            fanout=fanout,
            limiter=limiter,
            handoff=HandoffService(writer, read_engine, sessions, limiter, settings),
            assist=AssistService(writer, sessions, signer, limiter, settings),
            transactions=TransactionService(
                writer,
                read_engine,
                load_machines(settings.transactions_file),
                timedelta(seconds=settings.transaction_lease_seconds),
                catalog.currency,
            ),
            outbox=outbox,
            webhooks=WebhookService(writer, read_engine, outbox),
            jobs=JobRunner(writer, read_engine, settings, outbox, dispatcher),
            customers=CustomerService(
                writer, read_engine, sessions, limits, catalog.currency, MergeStrategy(settings.merge_strategy)
            ),
        )

    async def start(self) -> None:
        await self.writer.start()
        await self.fanout.start()
        await self.outbox.refresh(self.read_engine)
        self._tasks.append(asyncio.create_task(self.jobs.run_forever(), name="omnicart-jobs"))

    async def stop(self) -> None:
        for error in await cancel_and_wait(self._tasks):
            logger.error("background task failed at shutdown", exc_info=error)
        await self.fanout.stop()
        await self.limiter.close()
        await self.jobs.close()
        await self.writer.stop()
        await self.write_engine.dispose()
        await self.point_reader.close()
        await self.read_engine.dispose()
