# The Cairn image for hosts that can pull from a registry:
#   docker build -t cairn:latest .      (docker compose builds it on the first `up`)
# Hosts without a registry build FROM-scratch images from a local cairn binary instead:
# scripts/build-local-images.sh (see docker-compose.local.yml).

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# protoc comes from the protoc-bin-vendored crate; nothing else to install.
COPY . .
RUN cargo build --release --locked -p cairn --bin cairn \
 && install -m 0755 target/release/cairn /usr/local/bin/cairn

FROM debian:bookworm-slim
# CA certificates for https:// object storage endpoints; a fixed non-root uid so
# volumes made by other images or hosts can be chowned to it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 cairn \
 && useradd --system --uid 10001 --gid cairn --home-dir /data --shell /usr/sbin/nologin cairn \
 && mkdir -p /data \
 && chown cairn:cairn /data
COPY --from=builder /usr/local/bin/cairn /usr/local/bin/cairn
USER cairn
WORKDIR /data
VOLUME ["/data"]
# 9009: remote write, query API, /metrics, /-/ready; 9095: gRPC (Push, StoreAPI, meta).
EXPOSE 9009 9095
ENTRYPOINT ["cairn"]
CMD ["all", "--data.dir", "/data"]
