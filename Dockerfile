# The auction service image: `auction` (release build) on a slim Debian runtime.
#
#   docker build -t auction .                                  (docker-compose.yml does this)
#   docker build --build-arg SWIFT_VERSION=6.2 -t auction .   (another toolchain)
#
# The container runs `auction migrate` (safe from several instances at once) and then
# `auction serve`; configuration comes from the environment (DATABASE_URL, REDIS_URL, PORT,
# JWT_SECRET, ... see the README). HOST defaults to 0.0.0.0 inside the container.

# The toolchain the project is developed and tested with (6.3.x), on Debian 12 like the runtime.
ARG SWIFT_VERSION=6.3

# --- build ------------------------------------------------------------------------------
FROM swift:${SWIFT_VERSION}-bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libhiredis-dev zlib1g-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The manifest (and the lock file, when there is one) first: dependencies resolve in their own
# layer and are only fetched again when they change.
COPY Package.* ./
RUN swift package resolve $([ -f Package.resolved ] && echo --force-resolved-versions || true)
COPY . .
# Static Swift runtime and Foundation: the runtime stage needs no Swift toolchain libraries.
# Resource bundles (*.resources), if a target ever gets some, travel next to the binary.
RUN set -eu; \
    swift build -c release --product auction --static-swift-stdlib; \
    bin="$(swift build -c release --show-bin-path)"; \
    mkdir -p /out; \
    cp "$bin/auction" /out/auction; \
    for bundle in "$bin"/*.resources; do if [ -e "$bundle" ]; then cp -R "$bundle" /out/; fi; done; \
    strip /out/auction; \
    /out/auction --help >/dev/null

# --- runtime ----------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# libhiredis (the Redis client's parser), CA certificates and time zones; curl for the healthcheck.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libhiredis0.14 zlib1g libstdc++6 ca-certificates tzdata curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home auction
WORKDIR /app
COPY --from=build /out/ /app/
COPY sql/ /app/sql/
# The browser pages, found beside the binary (/app/web). Without SOCKETIO_CLIENT_JS the pages load the
# Socket.IO client from its CDN with a subresource-integrity hash.
COPY web/ /app/web/
ENV PATH=/app:$PATH \
    HOST=0.0.0.0 \
    PORT=3000
USER auction
EXPOSE 3000
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=5 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/readyz" >/dev/null || exit 1
# Migrations are recorded in schema_migrations and serialised by the migrator, so every
# replica may run them on start. `exec` makes `auction serve` PID 1's child-free successor,
# so SIGTERM from `docker stop` reaches it (graceful: close packets, finish in-flight bids).
CMD ["sh", "-c", "auction migrate --directory /app/sql && exec auction serve"]
