#!/usr/bin/env bash
# setup-redis.sh — make redis-server available on this machine, idempotently.
#
# Installs Debian's redis-server when `redis-server` is not on PATH. It
# starts nothing: the tests start their own servers on free loopback ports
# (broker/redis/redistest), so no system service is needed or used. On a
# machine that has redis-server it only says so, so the test command can
# run it every time.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

log() { printf 'setup-redis: %s\n' "$*" >&2; }

if command -v redis-server >/dev/null 2>&1; then
	log "redis-server already installed: $(redis-server --version | head -n1)"
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	log "redis-server is missing and installing it needs root: run as root, or apt-get install redis-server"
	exit 1
fi

log "installing redis-server"
apt_install redis-server

log "installed: $(redis-server --version | head -n1)"
