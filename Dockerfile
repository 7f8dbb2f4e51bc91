# feedmerge in a container: the release binary on Debian slim, running as a non-root user.
#   docker build -t feedmerge .
#   docker run -d -p 8080:8080 -v feedmerge-data:/data -v ./config:/etc/feedmerge:ro feedmerge
# (or `docker compose up -d`). Mount the config's folder, not the file: edits are applied live,
# and an editor that replaces the file on save would leave a single-file mount on the old one.

FROM rust:1-bookworm AS build
WORKDIR /src
# Build the dependencies alone first, so that changing our code does not rebuild them.
COPY Cargo.toml Cargo.lock ./
# (Cargo wants every declared bench to exist: placeholders for those too.)
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && for b in $(sed -n '/^\[\[bench\]\]/,/^name/s/^name = "\(.*\)"/\1/p' Cargo.toml); do echo 'fn main() {}' > "benches/$b.rs"; done \
 && cargo build --release --locked --bin feedmerge \
 && rm -rf src benches
COPY src src
COPY migrations migrations
COPY benches benches
# touch: the placeholder build left newer timestamps than the copied sources.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin feedmerge

FROM debian:bookworm-slim
# ca-certificates: outlets are polled over HTTPS. curl: the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin feedmerge \
 && mkdir -p /data /etc/feedmerge && chown feedmerge:feedmerge /data
COPY --from=build /src/target/release/feedmerge /usr/local/bin/feedmerge
COPY config/feedmerge.toml /etc/feedmerge/feedmerge.toml
# These override the config's [server].listen and [storage].database, so that any mounted
# config works with the image's port and volume.
ENV FEEDMERGE_CONFIG=/etc/feedmerge/feedmerge.toml \
    FEEDMERGE_LISTEN=0.0.0.0:8080 \
    FEEDMERGE_DATABASE=/data/feedmerge.db
VOLUME /data
EXPOSE 8080
USER feedmerge
# On the port FEEDMERGE_LISTEN names, should a deployment move it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${FEEDMERGE_LISTEN##*:}/healthz" || exit 1
ENTRYPOINT ["feedmerge"]
CMD ["run"]
