# syntax=docker/dockerfile:1
# Build: docker build -t cxbot .   Run: docker run --env-file .env -p 8080:8080 cxbot
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
RUN useradd --create-home --uid 10001 cxbot
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CXBOT_HTTP_HOST=0.0.0.0 \
    CXBOT_DATABASE_URL=sqlite:////data/cxbot.db
RUN mkdir /data && chown cxbot:cxbot /data
USER cxbot
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,os;urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"CXBOT_HTTP_PORT\",\"8080\")}/healthz')"
# `cxbot serve` applies pending migrations before it starts serving.
CMD ["cxbot", "serve"]
