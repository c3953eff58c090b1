"""HTTP routes of the catalog: public, no session needed."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import Parameter

from omnicart.protocol.catalog import CatalogItem, CatalogPage
from omnicart_server.context import ServerContext
from omnicart_server.errors import NotFound
from omnicart_server.problems import problem_responses


@get("/v1/catalog", tags=["catalog"], summary="Search the catalog by SKU or title", responses=problem_responses(400))
async def search_catalog(
    ctx: ServerContext,
    q: Annotated[str, Parameter(max_length=100, description="Part of a SKU or title; empty lists all.")] = "",
) -> CatalogPage:
    return CatalogPage(items=ctx.catalog.search(q))


@get("/v1/catalog/{sku:str}", tags=["catalog"], summary="One catalog item", responses=problem_responses(404))
async def get_catalog_item(sku: str, ctx: ServerContext) -> CatalogItem:
    item = ctx.catalog.get(sku)
    if item is None:
        raise NotFound(f"SKU {sku!r} is not in the catalog.")
    return item


ROUTES = [search_catalog, get_catalog_item]
