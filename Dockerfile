# syntax=docker/dockerfile:1
# openfero container image: a release build of the `openfero` binary on a distroless runtime,
# running as an unprivileged user. Build from the repository root:
#   docker build -t ghcr.io/openfero/openfero-rs:0.1.0 --build-arg OPENFERO_COMMIT=$(git rev-parse --short=12 HEAD) .
# (Not built in this project's CI: its machines have no container engine.)

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# build.rs reads the commit from git; .git is not in the build context, so pass it in.
ARG OPENFERO_COMMIT=unknown
ENV OPENFERO_COMMIT=${OPENFERO_COMMIT}
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin openfero \
 && install -D -m 0755 target/release/openfero /out/openfero \
 && mkdir -p /out/data

# glibc, libgcc, CA certificates and a `nonroot` user (65532), nothing else: no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG OPENFERO_COMMIT=unknown
ARG OPENFERO_VERSION=0.1.0
LABEL org.opencontainers.image.title="openfero" \
      org.opencontainers.image.description="Self-healing for Kubernetes: Alertmanager webhooks to exactly-once remediations, replicated with Raft" \
      org.opencontainers.image.source="https://github.com/openfero/openfero" \
      org.opencontainers.image.url="https://github.com/openfero/openfero" \
      org.opencontainers.image.documentation="https://github.com/openfero/openfero/blob/main/docs/deploy.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${OPENFERO_VERSION}" \
      org.opencontainers.image.revision="${OPENFERO_COMMIT}"
COPY --from=build /out/openfero /usr/local/bin/openfero
# The data dir, owned by the runtime user (a named volume mounted there inherits it).
COPY --from=build --chown=65532:65532 /out/data /var/lib/openfero
USER 65532:65532
# HTTP (webhook, API, metrics), Raft, gossip.
EXPOSE 8080/tcp 8081/tcp 7946/udp
ENTRYPOINT ["/usr/local/bin/openfero"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/openfero"]
