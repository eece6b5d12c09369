# Multi-stage build: a static-ish release binary on a slim Debian base, running as a non-root user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tokend

FROM debian:bookworm-slim
RUN useradd --system --create-home --home-dir /var/lib/tokend tokend \
 && mkdir -p /var/lib/tokend/keys && chown -R tokend:tokend /var/lib/tokend
COPY --from=build /src/target/release/tokend /usr/local/bin/tokend
USER tokend
WORKDIR /var/lib/tokend
ENV TOKEND_LISTEN=0.0.0.0:8080 \
    TOKEND_KEYS_DIR=/var/lib/tokend/keys \
    TOKEND_DATABASE_URL=sqlite:///var/lib/tokend/tokend.db
EXPOSE 8080
ENTRYPOINT ["tokend"]
CMD ["serve"]
