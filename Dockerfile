# Sluice in a container, over Debian 12. Not built in CI here (CI has no
# registry and no network beyond Debian's packages): see docs/deploy.md.
#
#   docker build -t sluice .
#   docker run -v $PWD/pipelines/cameras.yaml:/etc/sluice/pipeline.yaml:ro \
#              -v sluice-data:/var/lib/sluice -p 8080:8080 sluice
FROM debian:12 AS build
COPY . /src
WORKDIR /src
RUN scripts/deps.sh build \
 && cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
 && cmake --build /build -j"$(nproc)" --target sluice \
 && DESTDIR=/out cmake --install /build

FROM debian:12-slim
# The shared libraries the binary links (tests/integration/deploy checks this
# list against the binary), time zones, CA certificates, and curl for the
# health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libc6 libgcc-s1 libstdc++6 libsqlite3-0 libyaml-0-2 libzstd1 libxxhash0 libsimdjson14 \
      libmicrohttpd12 librdkafka1 libpcre2-8-0 libcurl4 libssl3 libgnutls30 zlib1g libpq5 libmosquitto1 \
      tzdata ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/sluice --shell /usr/sbin/nologin sluice \
 && mkdir -p /var/lib/sluice /etc/sluice && chown sluice: /var/lib/sluice
COPY --from=build /out/usr/ /usr/
USER sluice
VOLUME /var/lib/sluice
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
  CMD curl -fsS http://127.0.0.1:8080/healthz >/dev/null || exit 1
ENTRYPOINT ["sluice"]
CMD ["run", "/etc/sluice/pipeline.yaml", "--data", "/var/lib/sluice/pipeline", "--listen", "0.0.0.0:8080"]
