#!/usr/bin/env bash
# Installs what lineage needs to build and test on Debian 12 (run as root).
# Every package comes from Debian; nothing is downloaded at run time.
set -euo pipefail
pkgs=(cmake ninja-build g++ pkg-config
      nlohmann-json3-dev libcli11-dev libpcre2-dev
      libgtest-dev
      python3 python3-numpy python3-sentencepiece)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
