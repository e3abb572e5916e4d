# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run in a slim Debian image
# as an unprivileged user with the data directory on a volume.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY schema ./schema
COPY assets/dist ./assets/dist
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --bin lookout \
    && strip target/release/lookout

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin lookout \
    && mkdir -p /data && chown lookout:lookout /data
COPY --from=build /src/target/release/lookout /usr/local/bin/lookout
USER lookout
VOLUME ["/data"]
# Listening beyond loopback requires an admin token: pass
# -e LOOKOUT_ADMIN_TOKEN=... (lookout refuses to start without one).
ENV LOOKOUT_LISTEN=0.0.0.0:4318 \
    LOOKOUT_DATA_DIR=/data \
    LOOKOUT_LOG_FORMAT=json
EXPOSE 4318
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:4318/health || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/lookout"]
CMD ["serve"]
