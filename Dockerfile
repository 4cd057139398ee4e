# comptoir's container image: the gateway, the five components, spin.toml
# and the migrations, on debian:bookworm-slim, running as a non-root user.
#
#   DOCKER_BUILDKIT=1 docker build -t comptoir:0.1.0 .
#
# Behind a TLS-inspecting proxy (or wherever HTTPS needs an extra CA), hand
# the trust store in as a BuildKit secret; it is used for the downloads and
# never stored in a layer:
#
#   docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt ...
#
# ARTIFACTS=host packages what `cargo xtask build` and `cargo build -p
# comptoir [--release]` already made on a Debian bookworm (glibc 2.36) host
# instead of compiling again (CI does this); PROFILE picks target/release or
# target/debug. The runtime stage is the same either way. `cargo xtask
# image` builds from source and makes a local Rust image where
# rust:1-bookworm cannot be pulled.
ARG RUST_IMAGE=rust:1-bookworm
ARG BASE_IMAGE=debian:bookworm-slim
ARG ARTIFACTS=source

# ---- build from source ---------------------------------------------------
FROM ${RUST_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
COPY . .
# The registry and target/ live in cache mounts: a rebuild after a change
# compiles only what changed. The outputs are copied out of the cache.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then \
      export CARGO_HTTP_CAINFO=/run/secrets/ca SSL_CERT_FILE=/run/secrets/ca; \
    fi \
 && rustup target add wasm32-wasip2 \
 && cargo build --locked --release --target wasm32-wasip2 \
      -p clients -p panier -p commande -p catalogue -p docs \
 && cargo build --locked --release -p comptoir \
 && mkdir -p /out/target/wasm32-wasip2/release \
 && cp target/release/comptoir /out/ \
 && cp target/wasm32-wasip2/release/clients.wasm target/wasm32-wasip2/release/panier.wasm \
       target/wasm32-wasip2/release/commande.wasm target/wasm32-wasip2/release/catalogue.wasm \
       target/wasm32-wasip2/release/docs.wasm \
       /out/target/wasm32-wasip2/release/

FROM scratch AS artifacts-source
COPY --from=build /out/ /out/

# ---- or package the host's build ------------------------------------------
FROM scratch AS artifacts-host
ARG PROFILE=release
COPY target/${PROFILE}/comptoir /out/comptoir
COPY target/wasm32-wasip2/release/clients.wasm target/wasm32-wasip2/release/panier.wasm \
     target/wasm32-wasip2/release/commande.wasm target/wasm32-wasip2/release/catalogue.wasm \
     target/wasm32-wasip2/release/docs.wasm \
     /out/target/wasm32-wasip2/release/

# hadolint ignore=DL3006
FROM artifacts-${ARTIFACTS} AS artifacts

# ---- runtime ---------------------------------------------------------------
# hadolint ignore=DL3006
FROM ${BASE_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# CA certificates: fleets pull component versions from OCI registries over
# TLS (docs/operations.md, "Fleets").
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 comptoir \
 && useradd --system --uid 10001 --gid comptoir --home-dir /var/lib/comptoir --shell /usr/sbin/nologin comptoir \
 && install -d -o comptoir -g comptoir -m 0700 /var/lib/comptoir
COPY --from=artifacts /out/comptoir /usr/local/bin/comptoir
WORKDIR /app
COPY --from=artifacts /out/target/ target/
COPY spin.toml ./
COPY db/ db/

# The public API on every interface of the container; the admin API (metrics
# for Prometheus, deploys behind a bearer token) on the container's loopback
# only, so no other container reaches it. Where Prometheus scrapes it from
# outside the container, say so explicitly with
# COMPTOIR_ADMIN_LISTEN=0.0.0.0:8081 (compose.yaml and deploy/k8s do).
# Database URLs come at run time (SPIN_VARIABLE_*_DB_URL,
# SPIN_VARIABLE_DB_HOST/PORT); nothing secret is in the image.
ENV COMPTOIR_LISTEN=0.0.0.0:8080 \
    COMPTOIR_ADMIN_LISTEN=127.0.0.1:8081 \
    COMPTOIR_STATE_DIR=/var/lib/comptoir \
    RUST_LOG=info
EXPOSE 8080
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
STOPSIGNAL SIGTERM
# No curl in the slim image: bash's /dev/tcp asks /readyz (200 once every
# component is loaded and the databases answer; 503 while draining).
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/comptoir"]
CMD ["up"]
