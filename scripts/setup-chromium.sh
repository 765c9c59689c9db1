#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (web/browser_test.go
# drives it headless with chromedp). Does nothing when it is there.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
if command -v chromium >/dev/null; then
	exit 0
fi
apt_install chromium fonts-dejavu-core
chromium --version
