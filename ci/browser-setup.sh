#!/usr/bin/env bash
# Debian's headless Chromium for the HTML reports' browser test
# (ci/tests/test_html_reports.py): chromium and chromium-driver from bookworm,
# with its security updates.  Only the tests need a browser, so ci/test.sh
# runs this and ci/setup.sh (which verify.sh runs) does not.  Idempotent.
set -euo pipefail

log() { echo "browser-setup: $*" >&2; }

packages=(chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "present: $(chromium --version 2>/dev/null)"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { log "must run as root (apt-get) to install ${missing[*]}"; exit 4; }
log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
log "installed: $(chromium --version 2>/dev/null)"
