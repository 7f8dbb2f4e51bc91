# feedmerge in a container: the release binary on Debian slim, running as a non-root user.
#   docker build -t feedmerge .
#   docker run -d -p 8080:8080 -v feedmerge-data:/data -v ./config:/etc/feedmerge:ro feedmerge
# (or `docker compose up -d`). Mount the config's folder, not the file: edits are applied live,
# and an editor that replaces the file on save would leave a single-file mount on the old one.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
# (Cargo wants every bench the manifest declares to exist.)
COPY benches benches
# The crate registry and target/ are cache mounts (BuildKit's and podman's builder keep them
# between builds): a rebuild downloads nothing and compiles only what changed, our crate
# alone after an edit. The binary is copied out, as the cache is not part of the image.
RUN --mount=type=cache,id=feedmerge-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=feedmerge-target,target=/src/target \
    cargo build --release --locked --bin feedmerge \
 && cp target/release/feedmerge /usr/local/bin/feedmerge

FROM debian:bookworm-slim
# ca-certificates: outlets are polled over HTTPS. curl: the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin feedmerge \
 && mkdir -p /data /etc/feedmerge && chown feedmerge:feedmerge /data
COPY --from=build /usr/local/bin/feedmerge /usr/local/bin/feedmerge
COPY config/feedmerge.toml /etc/feedmerge/feedmerge.toml
# These override the config's [server].listen and [storage].database, so that any mounted
# config works with the image's port and volume.
ENV FEEDMERGE_CONFIG=/etc/feedmerge/feedmerge.toml \
    FEEDMERGE_LISTEN=0.0.0.0:8080 \
    FEEDMERGE_DATABASE=/data/feedmerge.db
VOLUME /data
EXPOSE 8080
USER feedmerge
# Liveness, not readiness: it fails only when the daemon does not answer (a degraded instance
# still serves, and restarting it would not fix its sources). On the port FEEDMERGE_LISTEN
# names, should a deployment move it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${FEEDMERGE_LISTEN##*:}/healthz" || exit 1
ENTRYPOINT ["feedmerge"]
CMD ["run"]
