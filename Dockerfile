# Dockerfile — the rwproxy image used by docker-compose.yml.
# Stage 1 builds bin/rwproxy and bin/rwproxyctl on Debian 12 with the -dev packages of
# scripts/deps.sh (BUILD_PKGS); stage 2 is debian:12-slim with only the runtime libraries.
#   docker build -t rwproxy .
#   docker run -v /path/rwproxy.ini:/etc/rwproxy/rwproxy.ini:ro -p 6033:6033 rwproxy
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc make libc6-dev libuv1-dev libmariadb-dev libmariadb-dev-compat libpcre2-dev \
      libinih-dev libcmocka-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make all && bin/rwproxy --check --config docker/rwproxy.ini

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libuv1 libinih1 libmariadb3 libssl3 libpcre2-8-0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin rwproxy
COPY --from=build /src/bin/rwproxy /src/bin/rwproxyctl /usr/bin/
COPY docker/rwproxy.ini /etc/rwproxy/rwproxy.ini
RUN chown root:rwproxy /etc/rwproxy/rwproxy.ini && chmod 640 /etc/rwproxy/rwproxy.ini
USER rwproxy
EXPOSE 6033 6032 9104
STOPSIGNAL SIGTERM
# rwproxyctl status exits 1 when rwproxy knows no master, and fails when it does not answer.
HEALTHCHECK --interval=5s --timeout=5s --start-period=10s --retries=6 \
  CMD ["rwproxyctl", "-c", "/etc/rwproxy/rwproxy.ini", "status"]
ENTRYPOINT ["rwproxy"]
CMD ["--config", "/etc/rwproxy/rwproxy.ini"]
