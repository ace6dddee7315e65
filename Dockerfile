# syntax=docker/dockerfile:1

# Build: docker build -t spool .
# Run:   docker run -p 9324:9324 -e DATABASE_URL=postgres://user:pass@host:5432/db spool
#
# The runtime image has no PostgreSQL server binaries, so the embedded default
# database is unavailable in it: DATABASE_URL must be set (see docker-compose.yml).

FROM rust:1-bookworm AS builder
WORKDIR /build
# Only the build inputs (with BuildKit only these are sent, not target/).
# `sqlx::migrate!()` embeds migrations/ at compile time; the `query!` macros check statements
# against the offline data in .sqlx/ (.cargo/config.toml sets SQLX_OFFLINE), so no database.
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY .sqlx ./.sqlx
COPY src ./src
COPY migrations ./migrations
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked \
    && cp target/release/spool /usr/local/bin/spool

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 spool \
    && useradd --system --uid 10001 --gid spool --home-dir /var/lib/spool \
        --no-create-home --shell /usr/sbin/nologin spool \
    && install -d -o spool -g spool -m 0750 /var/lib/spool
COPY --from=builder /usr/local/bin/spool /usr/local/bin/spool

# Numeric so that orchestrators can verify it is not root.
USER 10001:10001
WORKDIR /var/lib/spool
ENV SPOOL_LISTEN=0.0.0.0:9324
EXPOSE 9324
ENTRYPOINT ["spool"]
CMD ["serve"]
