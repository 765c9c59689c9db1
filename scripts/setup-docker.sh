#!/usr/bin/env bash
# setup-docker.sh — make a Docker engine answer on this machine, idempotently.
#
# Installs Debian's docker.io (the engine) and debootstrap (the sandbox image's
# registry-free build) when they are missing, starts dockerd in the background
# when it is not running, and waits until it answers. It needs root, works
# without systemd (CI machines have none) and does nothing on a machine that
# is already set up, so the test command can run it every time.
#
# Environment:
#   DOCKERD_LOG   where dockerd's output goes (default /var/log/dockerd.log)
#   DOCKER_WAIT   seconds to wait for the engine to answer (default 60)
set -euo pipefail

log() { printf 'setup-docker: %s\n' "$*" >&2; }

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
DOCKER_WAIT=${DOCKER_WAIT:-60}

if [[ $(id -u) -ne 0 ]]; then
	log "must run as root (it installs packages and starts dockerd)"
	exit 1
fi

# Without systemd nothing may have mounted the cgroup hierarchies dockerd
# needs: v2's unified one, or v1's per-controller ones.
cgroups_mounted() { [[ -e /sys/fs/cgroup/cgroup.controllers || -d /sys/fs/cgroup/memory ]]; }

# Packages. dockerd comes from docker.io; a docker CLI alone (which some
# machines have) is not an engine, so look for the daemon itself.
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if ! cgroups_mounted && ! command -v cgroupfs-mount >/dev/null 2>&1; then
	missing+=(cgroupfs-mount)
fi
if ((${#missing[@]} > 0)); then
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# --no-install-recommends keeps out what the engine does not need here
	# (apparmor, git, needrestart, xz-utils); cgroupfs-mount, the one that
	# matters without systemd, is asked for above when it is needed.
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! cgroups_mounted; then
	log "mounting cgroups"
	cgroupfs-mount
fi

engine_answers() {
	# docker.io ships the CLI beside the daemon; a server version printed
	# means the engine answers on its socket.
	docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# dockerd_alive: a dockerd process that is not a zombie (one killed a moment
# ago lingers as one until it is reaped).
dockerd_alive() {
	# shellcheck disable=SC2009 # pgrep cannot leave zombies out
	ps -C dockerd -o stat= 2>/dev/null | grep -qv '^Z'
}

if engine_answers; then
	log "engine already answering"
	exit 0
fi

started=0
for ((i = 0; i < DOCKER_WAIT * 4; i++)); do
	if engine_answers; then
		log "engine answering after $((i / 4)) s"
		exit 0
	fi
	if ((started == 0)) && ! dockerd_alive; then
		# dockerd starts its own containerd when no system one runs, and
		# takes over the pid files of a predecessor that was killed.
		log "starting dockerd (log: $DOCKERD_LOG)"
		mkdir -p "$(dirname "$DOCKERD_LOG")"
		# setsid: a session of its own, so that whatever started this script
		# (a shell job, a test harness) can be killed as a group without
		# taking the engine with it.
		setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
		disown || true
		started=1
	fi
	sleep 0.25
done

log "dockerd did not answer within ${DOCKER_WAIT}s; last lines of $DOCKERD_LOG:"
tail -n 30 "$DOCKERD_LOG" >&2 || true
exit 1
