#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the browser test of the rating page (tests/browser/), once,
# where that is possible (apt-get as root or with password-less sudo). Never fails: without them the browser
# part of the test is skipped and says why.
if command -v chromedriver >/dev/null && { command -v chromium >/dev/null || command -v google-chrome >/dev/null; }; then
  exit 0
fi
command -v apt-get >/dev/null || { echo "setup: no apt-get; the rating page's browser test will be skipped" >&2; exit 0; }
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else
  echo "setup: not root; the rating page's browser test will be skipped (apt-get install chromium chromium-driver)" >&2
  exit 0
fi
echo "setup: installing chromium and chromium-driver for the browser test (one time)..." >&2
export DEBIAN_FRONTEND=noninteractive
timeout 300 $sudo apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
  || { timeout 300 $sudo apt-get update -q >/dev/null 2>&1 && timeout 300 $sudo apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
  || echo "setup: could not install chromium; the rating page's browser test will be skipped" >&2
exit 0
