#!/usr/bin/env bash
# Installs what stock-agent-ops needs on Debian 12 (build tools, -dev libraries, test services).
# Idempotent: installs only what is missing; uses sudo only when not root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libcurl4-openssl-dev libjansson-dev libzstd-dev libsnappy-dev zlib1g-dev
  libmicrohttpd-dev libhiredis-dev libopenblas-dev libyaml-dev libxml2-dev
  redis-server prometheus wrk python3 python3-pandas python3-torch python3-fastapi python3-uvicorn
  python3-redis python3-jsonschema curl nodejs npm
)
# Only the C toolchain and libraries are needed to build; the rest serve tests and benchmarks.
[ "${SAO_BOOTSTRAP_MINIMAL:-0}" = 1 ] && packages=(
  build-essential cmake pkg-config
  libcurl4-openssl-dev libjansson-dev libzstd-dev libsnappy-dev zlib1g-dev libmicrohttpd-dev
  libhiredis-dev libyaml-dev libopenblas-dev
)

missing=()
for p in "${packages[@]}"; do
  # node and npm may come from elsewhere than Debian: a working binary is enough.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: everything needed is installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "bootstrap: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bootstrap: done"
