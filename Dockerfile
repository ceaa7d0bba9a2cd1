# One image for every process: `serve` (default), `worker`, `runner`, and the client
# commands (`run`, `get`, `list`, `cancel`). Plain Dockerfile syntax: it builds with
# BuildKit or the legacy builder (DOCKER_BUILDKIT=0), and with podman/buildah.
#
#   docker build -t stigmer-service .
#   docker build --build-arg EXTRAS=tools -t stigmer-service:slim .   # without provider SDKs

ARG PYTHON_IMAGE=python:3.11-slim

# -- builder: a virtualenv with the dependencies, then the project --------------------
FROM ${PYTHON_IMAGE} AS builder

# Optional dependency groups of pyproject.toml to include (comma-separated):
# `providers` adds the OpenAI, Anthropic and Ollama SDKs for real models; `tools` the MCP
# server the demo agent and the README tour's agent use (`mcp-server-time`), which the
# runner starts. (The `dev` extra, the embedded stand-ins for `stigmer-service dev`, stays
# out: a container talks to real services.)
ARG EXTRAS=providers,tools

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone (the project without its source, installed
# for its dependencies, then removed; an empty README stands in for the one it names):
# this layer is rebuilt only when the dependencies change, not on every source edit.
# Plain Dockerfile syntax: builds with or without BuildKit.
COPY pyproject.toml constraints.txt ./
RUN touch README.md && pip install --no-cache-dir -c constraints.txt ".${EXTRAS:+[$EXTRAS]}" && pip uninstall -y stigmer-service

# Then the project itself, without re-resolving dependencies.
COPY . .
RUN pip install --no-deps --no-compile . && python -m compileall -q /opt/venv/lib

# -- runtime: the virtualenv, a non-root user, nothing else ----------------------------
FROM ${PYTHON_IMAGE} AS runtime

# `stigmer` runs the processes; `stigmer-mcp` runs agents' stdio MCP servers when the
# runner may start them as another user (root in the container with SETUID/SETGID, as
# compose runs it; runner/sandbox.py): a home of its own, nothing of the runner's.
RUN groupadd --system --gid 10001 stigmer \
    && useradd --system --uid 10001 --gid stigmer --create-home --home-dir /home/stigmer stigmer \
    && groupadd --system --gid 10002 stigmer-mcp \
    && useradd --system --uid 10002 --gid stigmer-mcp --create-home --home-dir /home/stigmer-mcp stigmer-mcp \
    && chmod 755 /home/stigmer && chmod 700 /home/stigmer-mcp
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    MCP_SANDBOX_USER=stigmer-mcp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /home/stigmer
USER 10001:10001

# REST + SSE (HTTP_PORT), gRPC (GRPC_PORT).
EXPOSE 8080 7234
ENTRYPOINT ["stigmer-service"]
CMD ["serve"]
