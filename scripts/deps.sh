#!/usr/bin/env bash
# Installs what lineage needs to build and test on Debian 12 (run as root).
# Every package comes from Debian; the test suite's reference implementations
# (tests/npm) come from the npm registry. Nothing is downloaded at run time.
set -euo pipefail
pkgs=(cmake ninja-build g++ pkg-config
      nlohmann-json3-dev libcli11-dev libpcre2-dev libcpp-httplib-dev
      libgtest-dev libbenchmark-dev
      clang libclang-rt-14-dev
      python3 python3-numpy python3-sentencepiece)
# Headless Chromium runs the chat page's browser test (tests/npm/webui_test.mjs).
pkgs+=(chromium)
# Node.js runs the npm oracles; a machine that already has node keeps its own.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The npm oracles, pinned by tests/npm/package-lock.json.
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -f "$here/tests/npm/node_modules/.package-lock.json" ] ||
   [ "$here/tests/npm/package-lock.json" -nt "$here/tests/npm/node_modules/.package-lock.json" ]; then
  (cd "$here/tests/npm" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
