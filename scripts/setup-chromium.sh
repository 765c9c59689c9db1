#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (web/browser_test.go
# drives it headless with chromedp). Does nothing when it is there.
set -euo pipefail
if command -v chromium >/dev/null; then
	exit 0
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
chromium --version
