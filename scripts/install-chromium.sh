#!/usr/bin/env bash
# Installs Debian's Chromium for the headless test of the demo page (cmd/streamer),
# unless a Chromium is already there. Idempotent; needs root (or sudo) and apt.
#
# Pinning: Debian's security archive keeps only the current build of a browser, so an
# exact version pin would break as soon as it is replaced. The pin is the major version:
# the test was written against CHROMIUM_MAJOR (with chromedp, pinned in cmd/go.mod) and
# this script refuses a different major, so a browser jump is a visible change here.
set -euo pipefail
CHROMIUM_MAJOR=156

# check_major reports the browser at $1 and whether it is of major version CHROMIUM_MAJOR;
# with a second argument "strict" a different major is an error.
check_major() {
	local version major
	version="$("$1" --version 2>/dev/null | grep -oE '[0-9]+(\.[0-9]+)+' | head -1)"
	major="${version%%.*}"
	if [ "$major" != "$CHROMIUM_MAJOR" ]; then
		echo "install-chromium: $1 is version ${version:-unknown}; the demo page test is pinned to Chromium $CHROMIUM_MAJOR (update CHROMIUM_MAJOR after checking the test)" >&2
		[ "${2:-}" = strict ] && exit 1
		return 0
	fi
	echo "chromium: $version ($1)"
}

for bin in /usr/bin/chromium /usr/bin/chromium-browser; do
	if [ -x "$bin" ]; then
		check_major "$bin"
		exit 0
	fi
done

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium: no apt-get here; install Chromium and set CHROMIUM=/path/to/it (the demo page test is skipped without it, and fails under CI=true)" >&2
	exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "chromium=${CHROMIUM_MAJOR}.*"
check_major /usr/bin/chromium strict
