#!/usr/bin/env bash
# setup-compose.sh — make docker-compose and caddy available, idempotently.
#
# The one-host deployment is validated by the deploy module's tests
# (deploy/validate): deploy/compose.yaml with `docker-compose config`
# (Debian's docker-compose, Compose 1.29, which reads the Compose
# Specification) and deploy/Caddyfile with `caddy validate` (Debian's
# caddy). This installs whichever package is missing; it starts nothing (no
# system service runs without systemd, and the tests need the tools only).
# On a machine that has both it only says so, so the test command can run
# it every time.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

log() { printf 'setup-compose: %s\n' "$*" >&2; }

missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
if ((${#missing[@]} == 0)); then
	log "already installed: docker-compose $(docker-compose version --short 2>&1 | head -n1), caddy $(caddy version | head -n1)"
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	log "${missing[*]} missing, and installing needs root: run as root, or apt-get install ${missing[*]}"
	exit 1
fi

log "installing ${missing[*]}"
# The tools alone; the engine comes from setup-docker.sh.
apt_install "${missing[@]}"
if [[ -d /run/systemd/system ]] && [[ " ${missing[*]} " == *" caddy "* ]]; then
	systemctl disable --now caddy >/dev/null 2>&1 || true
fi

log "installed: docker-compose $(docker-compose version --short 2>&1 | head -n1), caddy $(caddy version | head -n1)"
