#!/usr/bin/env bash
# Build the mpcnode image with no container registry, and with no network during the build.
#
# For organizations whose build machines reach no registry (air-gapped, or a registry policy
# that forbids third-party base images). Three steps, each usable on its own:
#
#   deploy/offline/build.sh wheelhouse  # needs PyPI or your PyPI mirror (PIP_INDEX_URL)
#   deploy/offline/build.sh base        # needs a Debian mirror (DEBIAN_MIRROR) and root
#   deploy/offline/build.sh image       # needs nothing: docker build --network none
#   deploy/offline/build.sh all         # the three in this order
#
# `wheelhouse` downloads a wheel of every dependency declared in pyproject.toml (and of its
# build backend) into deploy/offline/wheelhouse, so a dependency added there is picked up with
# no change here. Run it on a connected machine and carry the folder in, or run it against an
# internal mirror. `base` bootstraps a minimal Debian (debootstrap, variant minbase, plus
# python3 and python3-venv) and imports it as an image: no registry and no image from anyone
# but Debian. `image` builds the Dockerfile on that base with OFFLINE=1, so pip installs from
# the wheelhouse alone, inside a build that has no network interface.
#
# Environment (defaults in brackets):
#   BASE_TAG       [mpcnode-base:bookworm]  tag of the imported base image
#   IMAGE_TAG      [mpcnode:local]          tag of the project image
#   DEBIAN_SUITE   [bookworm]               its python3 must be PYTHON_MINOR
#   DEBIAN_MIRROR  [http://deb.debian.org/debian]
#   PYTHON         [python3]                the interpreter whose pip fetches the wheels
#   PYTHON_MINOR   [3.11]                   the base's python3 version: wheels are built for it
#   FORCE_BASE     [0]                      1: rebuild the base even if BASE_TAG exists
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WHEELHOUSE="$ROOT/deploy/offline/wheelhouse"
BASE_TAG=${BASE_TAG:-mpcnode-base:bookworm}
IMAGE_TAG=${IMAGE_TAG:-mpcnode:local}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PYTHON=${PYTHON:-python3}
PYTHON_MINOR=${PYTHON_MINOR:-3.11}
FORCE_BASE=${FORCE_BASE:-0}

ROOTFS=""

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

requirements() {
  # The runtime dependencies and the build backend, one per line, straight from pyproject.toml.
  "$PYTHON" - "$ROOT/pyproject.toml" <<'EOF'
import sys
import tomllib

with open(sys.argv[1], "rb") as handle:
    project = tomllib.load(handle)
print("\n".join(project["project"]["dependencies"] + project["build-system"]["requires"]))
EOF
}

build_wheelhouse() {
  local version reqs
  version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  # Wheels carry the interpreter's version in their tags; ones fetched by another Python
  # would not install on the base image's python3.
  [ "$version" = "$PYTHON_MINOR" ] ||
    die "$PYTHON is Python $version but the base image has $PYTHON_MINOR; set PYTHON=python$PYTHON_MINOR"
  reqs=$(mktemp)
  requirements >"$reqs"
  log "wheelhouse: $(tr '\n' ' ' <"$reqs")"
  # Start empty, so the folder holds exactly what pyproject.toml asks for today.
  find "$WHEELHOUSE" -maxdepth 1 -type f ! -name README.md -delete
  "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$WHEELHOUSE" -r "$reqs"
  rm -f "$reqs"
  log "wheelhouse: $(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels in $WHEELHOUSE"
}

build_base() {
  if [ "$FORCE_BASE" != 1 ] && docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
    log "base: $BASE_TAG exists (FORCE_BASE=1 rebuilds it)"
    return
  fi
  [ "$(id -u)" = 0 ] || die "debootstrap needs root"
  command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
  ROOTFS=$(mktemp -d /tmp/mpcnode-rootfs.XXXXXX)
  local rootfs=$ROOTFS
  log "base: debootstrap $DEBIAN_SUITE (minbase + python3, python3-venv) from $DEBIAN_MIRROR"
  debootstrap --variant=minbase --include=python3,python3-venv \
    "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$rootfs.log" 2>&1 ||
    { tail -n 30 "$rootfs.log" >&2; die "debootstrap failed"; }
  # Package caches and lists, docs and translations: nothing the daemons use. The host's
  # resolver and hostname copied by debootstrap are replaced by docker at run time anyway.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/etc/resolv.conf "$rootfs"/etc/hostname
  local version
  version=$(chroot "$rootfs" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  [ "$version" = "$PYTHON_MINOR" ] ||
    die "$DEBIAN_SUITE has python3 $version, not $PYTHON_MINOR; set PYTHON_MINOR and PYTHON"
  log "base: docker import as $BASE_TAG (python3 $version)"
  tar --numeric-owner -C "$rootfs" -c . |
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["/bin/bash"]' \
      - "$BASE_TAG" >/dev/null
}

build_image() {
  find "$WHEELHOUSE" -name '*.whl' | grep -q . ||
    die "the wheelhouse is empty: run '$0 wheelhouse' first (on a connected machine)"
  docker image inspect "$BASE_TAG" >/dev/null 2>&1 || die "no base image $BASE_TAG: run '$0 base'"
  log "image: $IMAGE_TAG on $BASE_TAG, no network"
  # --network none: a RUN step that tried to reach anything would fail, so a passing build
  # proves the image needs nothing but the wheelhouse and the base.
  docker build --network none --build-arg BASE_IMAGE="$BASE_TAG" --build-arg OFFLINE=1 \
    --tag "$IMAGE_TAG" "$ROOT"
}

cleanup() {
  # The rootfs is root-owned and a few hundred MB: remove it however the script ends.
  if [ -n "$ROOTFS" ]; then
    rm -rf --one-file-system "$ROOTFS" "$ROOTFS.log"
  fi
}
trap cleanup EXIT

case "${1:-}" in
  wheelhouse) build_wheelhouse ;;
  base) build_base ;;
  image) build_image ;;
  all) build_wheelhouse && build_base && build_image ;;
  *) die "usage: $0 wheelhouse|base|image|all" ;;
esac
