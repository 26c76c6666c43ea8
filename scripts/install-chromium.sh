#!/usr/bin/env bash
# Installs Debian's Chromium for the headless test of the demo page (cmd/streamer),
# unless a Chromium is already there. Idempotent; needs root (or sudo) and apt.
set -euo pipefail

for bin in /usr/bin/chromium /usr/bin/chromium-browser; do
	if [ -x "$bin" ]; then
		echo "chromium: $("$bin" --version 2>/dev/null || echo "$bin")"
		exit 0
	fi
done

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium: no apt-get here; install Chromium yourself (the demo page test is skipped without it)" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium
/usr/bin/chromium --version
