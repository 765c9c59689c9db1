# The coderunner binary as an image: static, non-root, no shell, no
# package manager — nothing in it but the binary, CA certificates and a
# directory to write to. FROM scratch, so that it builds without any
# registry; scripts/build-app-image.sh prepares the context:
#
#   coderunner            the binary, built with CGO_ENABLED=0 (the SQLite
#                         driver is pure Go, so nothing needs a libc)
#   ca-certificates.crt   the build machine's CA bundle, for TLS to MongoDB,
#                         Redis, Sentry and a Docker engine over TCP
#   data/                 an empty directory: /data, the embedded SQLite
#                         store's, and /tmp, both the image user's
#
# The same image runs every process: `serve` (the default), `api`, `worker`,
# `seed`, `user create`. A worker talks to a Docker engine through
# DOCKER_HOST and pulls the sandbox image pinned by CODERUNNER_SANDBOX_IMAGE:
# it cannot build one here (no shell, no debootstrap, not root), and in
# production it must not.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY coderunner /coderunner
# 65532: the "nonroot" user of distroless images, a uid no host account has.
COPY --chown=65532:65532 data/ /data/
COPY --chown=65532:65532 data/ /tmp/
ENV CODERUNNER_DATA=/data
WORKDIR /data
USER 65532:65532
# The API (CODERUNNER_ADDR) and a worker's health and metrics
# (CODERUNNER_WORKER_ADDR).
EXPOSE 8080 9090
ENTRYPOINT ["/coderunner"]
CMD ["serve"]
