"""/docs and /redoc load every script, style and icon from the server itself (no CDN),
and those assets are served without an API key, like the pages that use them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.utils.contexts import opened_context
from tests.utils.http import serve_app

ASSET_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.fixture
async def keyed_context(services, mongo_db_name):
    async with opened_context(services, mongo_db_name, api_keys="a-key") as context:
        yield context


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_their_assets_from_the_server(keyed_context, page: str) -> None:
    async with serve_app(keyed_context) as api:
        html = (await api.client.get(page)).text
        references = [a or b for a, b in ASSET_REFERENCE.findall(html)]
        assert any(ref.endswith(".js") for ref in references), html
        for reference in references:
            assert not urlsplit(reference).netloc, f"{page} loads {reference} from elsewhere"
            if reference.startswith("/") and reference != "/openapi.json":
                asset = await api.client.get(reference)  # no Authorization header
                assert asset.status_code == 200, reference
                assert len(asset.content) > 1000, reference
