"""Seed the `demo` agent (the one `stigmer-service dev` seeds) into a running server, so a
stack started another way has an agent to run at once: compose's one-shot `demo-agent`
job runs `python -m devtools.seed_demo` once the server is healthy. `STIGMER_URL` and
`STIGMER_API_KEY` say where and with which key, as for the terminal client; an agent
named `demo` that exists already is left as it is."""

from __future__ import annotations

from client.api import ClientSettings
from devtools.dev import seed_demo_agent


def main() -> None:
    settings = ClientSettings()
    key = settings.api_key.get_secret_value()
    agent_id = seed_demo_agent(settings.url.rstrip("/"), {"Authorization": f"Bearer {key}"} if key else {})
    print(f"demo agent: {agent_id}", flush=True)


if __name__ == "__main__":
    main()
