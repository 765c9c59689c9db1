#!/usr/bin/env bash
# build-app-image.sh — build the coderunner app image, coderunner:<version>.
#
# Usage: scripts/build-app-image.sh [TAG]
#
# Compiles a static coderunner binary (CGO_ENABLED=0) and builds
# deploy/app.Dockerfile — FROM scratch, so no registry is needed — with the
# binary, this machine's CA certificates and an empty data directory owned
# by the image's user (65532). TAG defaults to coderunner:<version>, the
# version being `git describe` of this checkout (the commit, with "-dirty"
# if the tree has changes). Prints the tag on stdout; build output goes to
# stderr. Needs go and a Docker engine with its CLI (scripts/setup-docker.sh).
#
# Environment:
#   CA_CERTIFICATES   the CA bundle to copy (default /etc/ssl/certs/ca-certificates.crt,
#                     Debian's ca-certificates package)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

log() { printf 'build-app-image: %s\n' "$*" >&2; }

version=$(git describe --tags --always --dirty --abbrev=12 2>/dev/null || echo dev)
tag=${1:-coderunner:$version}
CA_CERTIFICATES=${CA_CERTIFICATES:-/etc/ssl/certs/ca-certificates.crt}
if [[ ! -s $CA_CERTIFICATES ]]; then
	log "no CA bundle at $CA_CERTIFICATES: apt-get install ca-certificates, or set CA_CERTIFICATES"
	exit 1
fi

context=$(mktemp -d /tmp/coderunner-app-image.XXXXXX)
trap 'rm -rf "$context"' EXIT

log "compiling a static binary ($version)"
# -trimpath keeps this machine's paths out of the binary; the VCS revision
# is still stamped (the version coderunner_build_info reports).
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$context/coderunner" ./cmd/coderunner
cp "$CA_CERTIFICATES" "$context/ca-certificates.crt"
mkdir -m 755 "$context/data"

log "building $tag from deploy/app.Dockerfile"
# The classic builder: the one every engine has (BuildKit would need the
# buildx plugin, which Debian's docker.io does not ship).
DOCKER_BUILDKIT=0 docker build --quiet -f deploy/app.Dockerfile -t "$tag" "$context" >&2
echo "$tag"
