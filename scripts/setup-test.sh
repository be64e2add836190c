#!/usr/bin/env bash
# What `npm test` needs besides node_modules, installed and started when missing (shared with .ci/run):
# Debian's Chromium for the browser tests (test/browser/, driven by playwright-core: no browser download), and a
# Redis answering on 127.0.0.1:6379 for the Redis tests (own key prefixes; the outage, Sentinel and Cluster tests
# start their own redis-server processes on free ports). Debian/Ubuntu; run as root or with sudo.
set -euo pipefail

as_root () { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=no
apt_install () {
  if [ "$apt_updated" = no ]; then as_root apt-get update; apt_updated=yes; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then apt_install chromium; fi
if ! command -v redis-server >/dev/null 2>&1; then apt_install redis-server; fi
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  redis-server --daemonize yes --port 6379 --save "" --appendonly no
fi
echo "setup:test: Chromium at ${CHROMIUM_PATH:-/usr/bin/chromium}, Redis on 127.0.0.1:6379"
