#!/usr/bin/env bash
# setup-registry.sh — make a container registry answer on 127.0.0.1:5000,
# idempotently, for the sandbox image's push-and-pull round trip.
#
# Installs Debian's docker-registry (the CNCF distribution registry) when it
# is missing, starts it in the background when nothing answers, and waits
# until it does. It needs root to install and start, works without systemd
# (CI machines have none) and does nothing on a machine where the registry
# already answers, so the test command can run it every time.
#
# The registry runs with a configuration of its own, not the package's:
# Debian's /etc/docker/registry/config.yml listens on every interface and
# asks for an htpasswd file nobody has made. Ours listens on the loopback
# only, needs no authentication and allows deletes (tests remove what they
# pushed). The Docker engine pulls from and pushes to a registry on a
# loopback address over plain HTTP without any configuration (its default
# insecure-registries is 127.0.0.0/8), so `localhost:5000/NAME:TAG` works.
#
# Environment:
#   REGISTRY_ADDR   where it listens (default 127.0.0.1:5000)
#   REGISTRY_DATA   its storage (default /var/lib/docker-registry, the package's)
#   REGISTRY_LOG    where its output goes (default /var/log/docker-registry.log)
#   REGISTRY_WAIT   seconds to wait for it to answer (default 30)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

log() { printf 'setup-registry: %s\n' "$*" >&2; }

REGISTRY_ADDR=${REGISTRY_ADDR:-127.0.0.1:5000}
REGISTRY_DATA=${REGISTRY_DATA:-/var/lib/docker-registry}
REGISTRY_LOG=${REGISTRY_LOG:-/var/log/docker-registry.log}
REGISTRY_WAIT=${REGISTRY_WAIT:-30}
host=${REGISTRY_ADDR%:*}
port=${REGISTRY_ADDR##*:}

# registry_answers: GET /v2/ answers 200, the registry API's version check.
# Bash's /dev/tcp rather than curl, which a fresh machine may not have.
registry_answers() {
	local status
	status=$(timeout 2 bash -c '
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		printf "GET /v2/ HTTP/1.0\r\nHost: %s:%s\r\n\r\n" "$1" "$2" >&3
		head -n1 <&3' _ "$host" "$port" 2>/dev/null) || return 1
	[[ $status == *" 200"* ]]
}

if registry_answers; then
	log "registry already answering on $REGISTRY_ADDR"
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	log "no registry on $REGISTRY_ADDR, and installing and starting one needs root"
	exit 1
fi

if ! command -v docker-registry >/dev/null 2>&1; then
	log "installing docker-registry"
	apt_install docker-registry
fi

# The package's user, so that the registry does not run as root; its
# storage must be that user's.
user=root
if id docker-registry >/dev/null 2>&1; then
	user=docker-registry
fi
mkdir -p "$REGISTRY_DATA" "$(dirname "$REGISTRY_LOG")"
chown "$user:" "$REGISTRY_DATA"

config_dir=$(mktemp -d /tmp/coderunner-registry.XXXXXX)
chmod 755 "$config_dir"
cat >"$config_dir/config.yml" <<EOF
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $REGISTRY_DATA
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
EOF
chmod 644 "$config_dir/config.yml"

log "starting docker-registry on $REGISTRY_ADDR as $user (config: $config_dir/config.yml, log: $REGISTRY_LOG)"
# setsid: its own session, so that killing whatever ran this script as a
# group does not take the registry with it.
setsid nohup runuser -u "$user" -- docker-registry serve "$config_dir/config.yml" >>"$REGISTRY_LOG" 2>&1 </dev/null &
pid=$!
disown || true

for ((i = 0; i < REGISTRY_WAIT * 4; i++)); do
	if registry_answers; then
		log "registry answering after $((i / 4)) s"
		exit 0
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		break # it exited: say why below rather than wait
	fi
	sleep 0.25
done

log "docker-registry did not answer on $REGISTRY_ADDR; last lines of $REGISTRY_LOG:"
tail -n 30 "$REGISTRY_LOG" >&2 || true
exit 1
