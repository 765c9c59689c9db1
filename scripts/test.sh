#!/usr/bin/env bash
# Runs every check and test of coderunner, as CI does (.ci/run calls this).
# On a fresh Debian 12 machine (as root) it first installs and starts what
# the tests need; on a machine that has them it only checks they run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
source scripts/lib.sh

echo "--- set-up: Docker engine, registry, redis-server, promtool, docker-compose and caddy, chromium, sandbox image, python3, node"
# The executor's and the end-to-end tests run programs in the real engine;
# the sandbox image's push-and-pull round trip goes through a real registry
# on 127.0.0.1:5000; the broker's tests start their own redis-server
# processes; the alerting rules are checked and unit tested with promtool;
# the one-host deployment is validated with docker-compose and caddy; the
# app and GraphiQL are tested in headless chromium.
bash scripts/setup-docker.sh
bash scripts/setup-registry.sh
bash scripts/setup-redis.sh
bash scripts/setup-prometheus.sh
bash scripts/setup-compose.sh
bash scripts/setup-chromium.sh # the browser tests (e2e/browser_test.go)
missing=()
command -v python3 >/dev/null || missing+=(python3-minimal) # the curriculum's reference solutions
command -v node >/dev/null || missing+=(nodejs npm)         # examples/, the README's subscription client
if ((${#missing[@]} > 0)); then
	apt_install "${missing[@]}"
fi
go run ./cmd/coderunner image build >/dev/null

echo "--- generated code is up to date (go generate ./...)"
before=$(find graph -type f -print0 | sort -z | xargs -0 sha256sum)
go generate ./...
after=$(find graph -type f -print0 | sort -z | xargs -0 sha256sum)
if [ "$before" != "$after" ]; then
	echo "graph/ was stale and has been regenerated: review and commit it" >&2
	exit 1
fi

echo "--- the embedded web bundles are reproducible (scripts/web.sh)"
before=$(find web/dist -type f -print0 | sort -z | xargs -0 sha256sum)
bash scripts/web.sh
after=$(find web/dist -type f -print0 | sort -z | xargs -0 sha256sum)
if [ "$before" != "$after" ]; then
	echo "web/dist does not match a rebuild from web/src and web/package-lock.json: review and commit it" >&2
	exit 1
fi

echo "--- gofmt and go vet"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...

# Everything the tests need was set up above: a missing engine, Redis,
# promtool, docker-compose or image is then a failure, never a skip (tests
# skip only outside CI).
export CI=true

echo "--- deploy/: Kubernetes manifests and the compose file (a module of its own)"
# Its Kubernetes and kustomize dependencies stay out of the binary's
# module; `go vet ./...` above does not enter it. The first build compiles
# them (about 1¼ minutes on 2 cores, downloads included), later ones come from the cache.
(cd deploy && go vet ./... && go test -count=1 ./...)

echo "--- go test"
go test -race -count=1 -timeout 20m ./...
