#!/usr/bin/env bash
# Makes the `debian:bookworm-slim` base image locally, for machines that cannot pull from a
# registry: `debootstrap --variant=minbase bookworm` from a Debian mirror, slimmed the way
# Debian's official slim images are (no docs, man pages, locales, apt lists or caches, and
# dpkg told not to install them later), then `docker import`.
#
#   docker/build-base.sh            build it unless the tag already exists
#   docker/build-base.sh --force    rebuild it
#
# Environment: BASE_TAG (debian:bookworm-slim), DEBIAN_MIRROR (http://deb.debian.org/debian),
# WORK_DIR (/tmp/machdb-docker), DOCKER (the docker CLI), DEBOOTSTRAP_TIMEOUT (900 s).
# Needs root (debootstrap) and a running docker daemon. Exit 0 on success, 1 on failure.
set -euo pipefail

BASE_TAG=${BASE_TAG:-debian:bookworm-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK_DIR=${WORK_DIR:-/tmp/machdb-docker}
DEBOOTSTRAP_TIMEOUT=${DEBOOTSTRAP_TIMEOUT:-900}
if [ -z "${DOCKER:-}" ]; then
  if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi

say() { echo "build-base: $*" >&2; }

if [ "${1:-}" != "--force" ] && "$DOCKER" image inspect "$BASE_TAG" >/dev/null 2>&1; then
  say "$BASE_TAG already present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then say "debootstrap needs root"; exit 1; fi
command -v debootstrap >/dev/null || { say "debootstrap is not installed (apt-get install debootstrap)"; exit 1; }

rootfs="$WORK_DIR/rootfs"
mkdir -p "$WORK_DIR"
# A rootfs left by an interrupted run may hold mounts (debootstrap mounts proc/sys inside it).
for m in proc sys dev/pts dev; do
  mountpoint -q "$rootfs/$m" 2>/dev/null && umount -l "$rootfs/$m" || true
done
rm -rf "$rootfs"

say "debootstrap --variant=minbase bookworm from $MIRROR (log: $WORK_DIR/debootstrap.log)"
if ! timeout "$DEBOOTSTRAP_TIMEOUT" debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" \
     >"$WORK_DIR/debootstrap.log" 2>&1; then
  say "debootstrap failed; last lines of its log:"
  tail -n 15 "$WORK_DIR/debootstrap.log" >&2
  rm -rf "$rootfs"
  exit 1
fi

say "slimming the root filesystem"
# Later `apt-get install`s (in docker/Dockerfile) skip docs, man pages and translations too.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
Acquire::Languages "none";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
# Services never start inside a container build.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 755 "$rootfs/usr/sbin/policy-rc.d"
# The same sources as the official image: bookworm, bookworm-updates, bookworm-security.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/groff/* "$rootfs"/usr/share/info/* \
       "$rootfs"/usr/share/lintian/* "$rootfs"/usr/share/linda/*
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
       "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/var/tmp/* "$rootfs"/debootstrap
mkdir -p "$rootfs/var/lib/apt/lists/partial" "$rootfs/var/cache/apt/archives/partial"
# Docker provides these at run time.
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"
rm -f "$rootfs/etc/machine-id"; : >"$rootfs/etc/machine-id"
say "root filesystem: $(du -sh "$rootfs" | cut -f1)"

say "docker import -> $BASE_TAG"
tar --numeric-owner --xattrs -C "$rootfs" -c . \
  | "$DOCKER" import --change 'CMD ["bash"]' \
      --message "debootstrap --variant=minbase bookworm ($MIRROR), slimmed" - "$BASE_TAG" >/dev/null
rm -rf "$rootfs"
say "$BASE_TAG: $("$DOCKER" image inspect -f '{{.Size}}' "$BASE_TAG" | awk '{printf "%.0f MB", $1/1e6}')"
