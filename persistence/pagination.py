"""Keyset pagination, newest first, for every collection whose ids sort by time: the page
token is the last id of the previous page (opaque to clients)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from core.errors import InvalidArgument
from core.ids import is_valid_id

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


def clamp_page_size(page_size: int) -> int:
    """0 (unset) means the default; anything above the maximum is the maximum."""
    return max(1, min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE))


def encode_page_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    try:
        value = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument("page_token is not a token this service issued") from exc
    if not is_valid_id(value):
        raise InvalidArgument("page_token is not a token this service issued")
    return value


async def newest_first(
    collection: AsyncCollection[dict[str, Any]], query: dict[str, Any], page_size: int, page_token: str
) -> tuple[list[dict[str, Any]], str, int]:
    """(documents of this page, the next page's token or "", how many match `query`)."""
    page_size = clamp_page_size(page_size)
    total = await collection.count_documents(query)
    if page_token:
        query = {**query, "_id": {"$lt": decode_page_token(page_token)}}
    docs = [d async for d in collection.find(query).sort("_id", DESCENDING).limit(page_size + 1)]
    token = encode_page_token(docs[page_size - 1]["_id"]) if len(docs) > page_size else ""
    return docs[:page_size], token, total


# A page of executions holds at most this many bytes of statuses, whatever its count,
# so a list answer stays far below gRPC's 16 MiB message limit (and a REST answer's
# memory bounded): big runs come a few, or one, per page.
MAX_PAGE_BYTES = 4 * 1024 * 1024
# What an item weighs besides the size field (metadata, spec): an estimate.
ITEM_OVERHEAD_BYTES = 16 * 1024


@dataclass(frozen=True)
class SizedPage:
    docs: list[dict[str, Any]]
    next_page_token: str
    total: int  # how many match the query
    total_pages: int  # pages from the first, as this service cuts them


async def newest_first_within_bytes(
    collection: AsyncCollection[dict[str, Any]],
    query: dict[str, Any],
    page_size: int,
    page_token: str,
    *,
    size_field: str,
    max_bytes: int = MAX_PAGE_BYTES,
) -> SizedPage:
    """Keyset pages, newest first, bounded by count and by bytes: an item weighs its
    `size_field` (an upper bound kept by every write) plus `ITEM_OVERHEAD_BYTES`. A page
    ends before the item that would take it past `max_bytes`; an item heavier than that
    alone gets a page of its own, so every page holds at least one item.

    One query reads every match's id and size (what a count costs), which gives the
    total, the page count as the pages are cut from the first, and this page's ids; a
    second reads this page's documents."""
    page_size = clamp_page_size(page_size)
    after = decode_page_token(page_token) if page_token else None
    total = pages = 0
    page_count = page_bytes = 0  # of the page being cut from the first
    ids: list[str] = []
    ids_bytes = 0
    next_token = ""
    ids_done = False
    cursor = collection.find(query, {size_field: 1}).sort("_id", DESCENDING)
    async for doc in cursor:
        weight = _weight(doc.get(size_field)) + ITEM_OVERHEAD_BYTES
        total += 1
        if page_count == 0 or page_count >= page_size or page_bytes + weight > max_bytes:
            pages, page_count, page_bytes = pages + 1, 0, 0
        page_count, page_bytes = page_count + 1, page_bytes + weight
        if ids_done or (after is not None and doc["_id"] >= after):
            continue
        if ids and (len(ids) >= page_size or ids_bytes + weight > max_bytes):
            next_token, ids_done = encode_page_token(ids[-1]), True
            continue
        ids.append(doc["_id"])
        ids_bytes += weight
    docs = []
    if ids:
        docs = [d async for d in collection.find({"_id": {"$in": ids}})]
        docs.sort(key=lambda d: d["_id"], reverse=True)
    return SizedPage(docs, next_token, total, pages)


def _weight(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0
