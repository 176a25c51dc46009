# syntax=docker/dockerfile:1
# Build: docker build -t cxbot .   Run: docker run --env-file .env -p 8080:8080 -v cxbot-data:/data cxbot
FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY flows ./flows
COPY storage ./storage
COPY bot ./bot
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim AS runtime
# A numeric, non-root user: Kubernetes' runAsNonRoot can check a number, not a name.
RUN groupadd --gid 10001 cxbot && useradd --uid 10001 --gid 10001 --create-home cxbot \
    && mkdir /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CXBOT_HTTP_HOST=0.0.0.0 \
    CXBOT_DATABASE_URL=sqlite:////data/cxbot.db
USER 10001:10001
WORKDIR /data
# No VOLUME: with PostgreSQL the workers keep nothing on disk; with SQLite mount a named volume on
# /data (compose.sqlite.yml does).
EXPOSE 8080
# Exec form: no shell needed in the image to run the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CXBOT_HTTP_PORT', '8080'), timeout=4)"]
# `cxbot serve` applies pending migrations (under a lock) before it starts serving.
CMD ["cxbot", "serve"]
