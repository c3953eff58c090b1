"""create_app(settings): wires plugins, routes and the process lifespan; holds no logic of its own."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from omnicart_server import __doc__ as description
from omnicart_server.assist.routes import ROUTES as ASSIST_ROUTES
from omnicart_server.carts.routes import ROUTES as CART_ROUTES
from omnicart_server.catalog.routes import ROUTES as CATALOG_ROUTES
from omnicart_server.config import Settings, load_settings
from omnicart_server.context import ServerContext
from omnicart_server.customers.routes import ROUTES as CUSTOMER_ROUTES
from omnicart_server.demo.routes import ROUTES as DEMO_ROUTES
from omnicart_server.deps import dependencies
from omnicart_server.events.routes import ROUTES as EVENT_ROUTES
from omnicart_server.handoff.routes import ROUTES as HANDOFF_ROUTES
from omnicart_server.metrics import MetricsController, RequestMetrics, watch_collector
from omnicart_server.observability import health, ready
from omnicart_server.problems import problem_details_plugin
from omnicart_server.sessions.routes import ROUTES as SESSION_ROUTES
from omnicart_server.stream.routes import ROUTES as STREAM_ROUTES
from omnicart_server.strict_body import StrictBodyRequest
from omnicart_server.transactions.routes import ROUTES as TRANSACTION_ROUTES
from omnicart_server.webhooks.routes import ROUTES as WEBHOOK_ROUTES

VERSION = "0.1.0"


def create_app(settings: Settings) -> Litestar:
    ctx = ServerContext.build(settings)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        await ctx.start()
        try:
            yield
        finally:
            await ctx.stop()

    return Litestar(
        route_handlers=[
            health,
            ready,
            MetricsController,
            *SESSION_ROUTES,
            *CART_ROUTES,
            *EVENT_ROUTES,
            *CATALOG_ROUTES,
            *STREAM_ROUTES,
            *HANDOFF_ROUTES,
            *CUSTOMER_ROUTES,
            *ASSIST_ROUTES,
            *TRANSACTION_ROUTES,
            *WEBHOOK_ROUTES,
            *DEMO_ROUTES,
        ],
        dependencies=dependencies(ctx),
        plugins=[problem_details_plugin()],
        middleware=[RequestMetrics()],
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        request_class=StrictBodyRequest,
        openapi_config=OpenAPIConfig(
            title="Omnicart",
            version=VERSION,
            description=description,
            components=Components(
                security_schemes={
                    "session": SecurityScheme(
                        type="http", scheme="bearer", description="The session token from POST /v1/sessions."
                    ),
                    "api_key": SecurityScheme(
                        type="http", scheme="bearer", description="A trusted backend's key from `omnicart keys create`."
                    ),
                }
            ),
        ),
        debug=False,
    )


def create_app_from_env() -> Litestar:
    """Factory for uvicorn workers: the CLI exported the settings as OMNICART_* variables.

    Also where a server process tunes its garbage collector and starts timing its pauses: process-wide settings
    that tests building apps in-process should not inherit.
    """
    settings = load_settings()
    tune_collector(settings)
    watch_collector()
    return create_app(settings)


def tune_collector(settings: Settings) -> None:
    """Set the young generation's threshold as a server process runs with (Settings.gc_young_threshold says why)."""
    gc.set_threshold(settings.gc_young_threshold, *gc.get_threshold()[1:])
