# tokend: a release build on the toolchain of rust-toolchain.toml, run from a slim Debian image as a
# non-root user. Build: `docker build -t tokend .`; deploy: docs/deploying.md.

# ---- build ---------------------------------------------------------------------------------------
# The tag is the channel pinned in rust-toolchain.toml (tests/api/deploy.rs checks they agree).
# rust-toolchain.toml itself is not copied: it would make rustup fetch rustfmt and clippy here.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src

# Dependencies first, against empty stand-ins for the workspace's own code: this layer is rebuilt
# only when a manifest or Cargo.lock changes, not on every source edit. Cargo checks that every
# declared target exists, so each [[bench]] needs a stand-in too (tests/api/deploy.rs checks).
COPY Cargo.toml Cargo.lock ./
COPY crates/tokend-verify/Cargo.toml crates/tokend-verify/
COPY crates/tokend-bench/Cargo.toml crates/tokend-bench/
RUN mkdir -p src benches crates/tokend-verify/src crates/tokend-verify/benches \
    crates/tokend-bench/src \
 && echo 'fn main() {}' > src/main.rs \
 && echo 'fn main() {}' > benches/pieces.rs \
 && echo 'fn main() {}' > crates/tokend-verify/benches/verify.rs \
 && echo 'fn main() {}' > crates/tokend-bench/src/main.rs \
 && touch src/lib.rs crates/tokend-verify/src/lib.rs \
 && cargo build --release --locked --bin tokend \
 && rm -rf src benches crates/tokend-verify/src crates/tokend-verify/benches crates/tokend-bench/src

# The real sources (migrations are embedded at compile time). COPY may keep timestamps older than
# the stand-ins' build, so touch the crate roots or cargo would keep the empty binary.
COPY src src
COPY crates crates
COPY benches benches
COPY migrations migrations
COPY examples examples
RUN touch src/main.rs src/lib.rs crates/tokend-verify/src/lib.rs \
 && cargo build --release --locked --bin tokend --example photos_api \
 && install -D -m 0755 target/release/tokend /out/tokend \
 && install -D -m 0755 target/release/examples/photos_api /out/photos_api

# ---- runtime -------------------------------------------------------------------------------------
FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="tokend" \
      org.opencontainers.image.description="A token issuer: sign-in, rotating refresh tokens, JWT access tokens, service tokens." \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed UID/GID (10001) so bind-mounted directories can be chowned to it ahead of time. The keys
# and data directories are created here with that owner: a new volume mounted on them copies the
# ownership, so the unprivileged process can write its keys on first start.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tokend \
 && useradd --system --uid 10001 --gid tokend --home-dir /var/lib/tokend --no-create-home \
      --shell /usr/sbin/nologin tokend \
 && install -d -o tokend -g tokend -m 0750 /var/lib/tokend \
 && install -d -o tokend -g tokend -m 0700 /var/lib/tokend/keys /var/lib/tokend/data

COPY --from=build /out/tokend /usr/local/bin/tokend
# The example resource API of docker-compose.yml (entrypoint `photos_api`).
COPY --from=build /out/photos_api /usr/local/bin/photos_api

# Listen on every interface of the container; keys and the SQLite database (used when
# TOKEND_DATABASE_URL is not overridden, e.g. with PostgreSQL) live on volumes.
ENV TOKEND_LISTEN=0.0.0.0:8080 \
    TOKEND_KEYS_DIR=/var/lib/tokend/keys \
    TOKEND_DATABASE_URL=sqlite:///var/lib/tokend/data/tokend.db
VOLUME ["/var/lib/tokend/keys", "/var/lib/tokend/data"]
WORKDIR /var/lib/tokend
USER 10001:10001
EXPOSE 8080

# Liveness without extra packages: bash (always in Debian) speaks HTTP over /dev/tcp to the port of
# TOKEND_LISTEN. /healthz answers once start-up (database connected and migrated, keys loaded) is over.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${TOKEND_LISTEN##*:} && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# SIGTERM (docker stop) drains in-flight requests for TOKEND_SHUTDOWN_GRACE_SECONDS (20 s by
# default): give containers a longer stop timeout than Docker's 10 s (compose: stop_grace_period).
ENTRYPOINT ["tokend"]
CMD ["serve"]
