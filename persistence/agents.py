"""Agents and sessions: the small resources an execution runs against."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from core.errors import InvalidArgument, NotFound
from core.ids import new_id
from persistence.executions import clamp_page_size, decode_page_token, encode_page_token


class SubAgent(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    instructions: str = Field(default="", max_length=20_000)


class AgentFields(BaseModel):
    """What a client sets when creating an agent."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    instructions: str = Field(default="", max_length=20_000)
    model_name: str = Field(default="", max_length=200)
    tools: list[str] = Field(default_factory=list, max_length=50)
    sub_agents: list[SubAgent] = Field(default_factory=list, max_length=20)


class Agent(AgentFields):
    id: str
    created_at: datetime


class Session(BaseModel):
    id: str
    agent_id: str
    thread_id: str
    created_at: datetime


def _now() -> datetime:
    """Now, at the millisecond precision MongoDB stores (so a read equals the write)."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _from_doc(model: type[BaseModel], doc: dict[str, Any]) -> Any:
    return model.model_validate({**doc, "id": doc["_id"]})


async def _page(collection, query: dict[str, Any], page_size: int, page_token: str):
    page_size = clamp_page_size(page_size)
    if page_token:
        query = {**query, "_id": {"$lt": decode_page_token(page_token)}}
    docs = [d async for d in collection.find(query).sort("_id", DESCENDING).limit(page_size + 1)]
    token = encode_page_token(docs[page_size - 1]["_id"]) if len(docs) > page_size else ""
    return docs[:page_size], token


class AgentRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self._collection = db["agents"]

    async def create(self, fields: AgentFields) -> Agent:
        agent = Agent(id=new_id("agt"), created_at=_now(), **fields.model_dump())
        doc = {"_id": agent.id, **agent.model_dump(exclude={"id"})}
        try:
            await self._collection.insert_one(doc)
        except DuplicateKeyError:
            raise InvalidArgument(f"an agent named {fields.name!r} already exists") from None
        return agent

    async def get(self, agent_id: str) -> Agent:
        doc = await self._collection.find_one({"_id": agent_id})
        if doc is None:
            raise NotFound(f"agent {agent_id!r} not found")
        return _from_doc(Agent, doc)

    async def list(self, page_size: int = 20, page_token: str = "") -> tuple[list[Agent], str]:
        docs, token = await _page(self._collection, {}, page_size, page_token)
        return [_from_doc(Agent, d) for d in docs], token

    async def delete(self, agent_id: str) -> Agent:
        doc = await self._collection.find_one_and_delete({"_id": agent_id})
        if doc is None:
            raise NotFound(f"agent {agent_id!r} not found")
        return _from_doc(Agent, doc)


class SessionRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self._collection = db["sessions"]

    async def create(self, agent_id: str) -> Session:
        session_id = new_id("ses")
        session = Session(
            id=session_id,
            agent_id=agent_id,
            thread_id=f"thread_{session_id}",
            created_at=_now(),
        )
        await self._collection.insert_one({"_id": session.id, **session.model_dump(exclude={"id"})})
        return session

    async def get(self, session_id: str) -> Session:
        doc = await self._collection.find_one({"_id": session_id})
        if doc is None:
            raise NotFound(f"session {session_id!r} not found")
        return _from_doc(Session, doc)

    async def delete(self, session_id: str) -> None:
        await self._collection.delete_one({"_id": session_id})

    async def list(
        self, agent_id: str | None = None, page_size: int = 20, page_token: str = ""
    ) -> tuple[list[Session], str]:
        query = {"agent_id": agent_id} if agent_id else {}
        docs, token = await _page(self._collection, query, page_size, page_token)
        return [_from_doc(Session, d) for d in docs], token
