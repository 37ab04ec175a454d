#!/usr/bin/env bash
# Install the two header-only packages that TensorFlow's XLA headers include
# and the TF wheel does not ship (highwayhash, farmhash), so that the TF op
# library is built with the XLA kernels of the recurrent ops. Debian packages;
# needs root (CI and the dev machines run as root). Without them the library
# builds without those kernels (zoo doctor says so).
set -euo pipefail
if [ -f /usr/include/highwayhash/highwayhash.h ] && [ -f /usr/include/farmhash.h ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "xla-headers.sh: not root or no apt-get; install libhighwayhash-dev and libfarmhash-dev" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq libhighwayhash-dev libfarmhash-dev >/dev/null
