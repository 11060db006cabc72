#!/usr/bin/env bash
# Installs NVRTC (CUDA runtime compiler) from Debian bookworm's non-free component.
# NVRTC needs no GPU; it lets the kernel compile tests and the kernel report run on any host.
# Idempotent and non-interactive; run as root (CI images) or via sudo.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PKG="${NVRTC_PACKAGE:-libnvrtc11.2}"

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "install-nvrtc: must run as root (or with sudo)" >&2; exit 1
  fi
fi

if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "install ok installed"; then
  echo "install-nvrtc: $PKG already installed"
  exit 0
fi

# Enable contrib + non-free on the Debian sources (deb822 or one-line format).
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  $SUDO sed -i -E '/^Components:/{/non-free( |$)/! s/$/ contrib non-free/}' /etc/apt/sources.list.d/debian.sources
  $SUDO sed -i -E '/^Components:/ s/\bcontrib\b(.*)\bcontrib\b/contrib\1/' /etc/apt/sources.list.d/debian.sources
fi
if [ -f /etc/apt/sources.list ]; then
  $SUDO sed -i -E '/^deb .*debian/{/ non-free( |$)/! s/$/ contrib non-free/}' /etc/apt/sources.list
fi

$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "$PKG"
ldconfig -p | grep -i nvrtc || true
echo "install-nvrtc: $PKG installed"
