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
export DEBIAN_FRONTEND=noninteractive
# Keep caddy's service from starting while it installs, unless the machine
# has a policy of its own already.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
# --no-install-recommends: the tools alone; the engine comes from setup-docker.sh.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ -d /run/systemd/system ]] && [[ " ${missing[*]} " == *" caddy "* ]]; then
	systemctl disable --now caddy >/dev/null 2>&1 || true
fi

log "installed: docker-compose $(docker-compose version --short 2>&1 | head -n1), caddy $(caddy version | head -n1)"
