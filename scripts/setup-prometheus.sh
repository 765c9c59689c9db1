#!/usr/bin/env bash
# setup-prometheus.sh — make promtool available on this machine, idempotently.
#
# The alerting rules (deploy/prometheus/alerts.yml) are checked and unit
# tested with promtool (metrics/rules_test.go), which Debian ships in its
# `prometheus` package. This installs that package when `promtool` is not on
# PATH, and keeps the Prometheus server it brings from running: the tests
# need the tool, not a server (which would also take port 9090, the
# worker's default). On a machine that has promtool it only says so, so the
# test command can run it every time.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

log() { printf 'setup-prometheus: %s\n' "$*" >&2; }

if command -v promtool >/dev/null 2>&1; then
	log "promtool already installed: $(promtool --version 2>&1 | head -n1)"
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	log "promtool is missing and installing it needs root: run as root, or apt-get install prometheus"
	exit 1
fi

log "installing Debian's prometheus package (for promtool)"
# Without recommends: no node exporter, no web console.
apt_install prometheus
if [[ -d /run/systemd/system ]]; then
	systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

log "installed: $(promtool --version 2>&1 | head -n1)"
