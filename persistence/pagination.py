"""Keyset pagination, newest first, for every collection whose ids sort by time: the page
token is the last id of the previous page (opaque to clients)."""

from __future__ import annotations

import base64
import binascii
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
