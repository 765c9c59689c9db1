#!/usr/bin/env bash
# setup-compose.sh — make docker-compose available on this machine, idempotently.
#
# The one-host deployment (deploy/compose.yaml) is validated with
# `docker-compose config` by the deploy module's tests (deploy/validate),
# which Debian ships in its `docker-compose` package (Compose 1.29, which
# reads the Compose Specification). This installs that package when
# `docker-compose` is not on PATH; it starts nothing. On a machine that has
# it, it only says so, so the test command can run it every time.
set -euo pipefail

log() { printf 'setup-compose: %s\n' "$*" >&2; }

if command -v docker-compose >/dev/null 2>&1; then
	log "docker-compose already installed: $(docker-compose version --short 2>&1 | head -n1)"
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	log "docker-compose is missing and installing it needs root: run as root, or apt-get install docker-compose"
	exit 1
fi

log "installing Debian's docker-compose package"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: the tool alone; the engine comes from setup-docker.sh.
apt-get install -y -qq --no-install-recommends docker-compose >/dev/null

log "installed: $(docker-compose version --short 2>&1 | head -n1)"
