#!/usr/bin/env bash
# Builds the images docker-compose.local.yml runs, from binaries already on this machine,
# for hosts where no image can be pulled (every image here is `FROM scratch`):
#
#   cairn:local     the given cairn binary, exactly the shared libraries `ldd` reports
#                   plus the dynamic loader, /etc/ssl/certs/ca-certificates.crt when
#                   present, /tmp, and /data owned by the non-root user 10001 (no VOLUME:
#                   stateless roles would leave anonymous volumes behind; compose mounts
#                   named volumes where data must last);
#   cairn-s3:local  cairn:local plus s3s-fs (an S3 server on a directory, a Rust crate:
#                   scripts/install-test-deps.sh installs it) and its libraries, with the
#                   bucket directory /data/cairn already made.
#
# Usage: scripts/build-local-images.sh [path-to-cairn-binary]   (default target/debug/cairn)
# Environment: CAIRN_IMAGE [cairn:local]  CAIRN_S3_IMAGE [cairn-s3:local]
#   S3S_FS [s3s-fs on PATH]  CAIRN_S3_BUCKET [cairn]
# An image whose inputs (binaries, libraries, this script) are unchanged is not rebuilt:
# each image carries the hash of its inputs in the label cairn.inputs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CAIRN_BIN=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/cairn}
CAIRN_IMAGE=${CAIRN_IMAGE:-cairn:local}
CAIRN_S3_IMAGE=${CAIRN_S3_IMAGE:-cairn-s3:local}
S3_BUCKET=${CAIRN_S3_BUCKET:-cairn}
S3S_FS=${S3S_FS:-$(command -v s3s-fs || true)}
UID_GID=10001:10001

log() { printf '[build-local-images] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -x $CAIRN_BIN ]] || die "no executable cairn binary at $CAIRN_BIN (cargo build -p cairn --bin cairn)"
[[ -n $S3S_FS && -x $S3S_FS ]] || die "s3s-fs not found (scripts/install-test-deps.sh installs it, or set S3S_FS)"
command -v docker >/dev/null || die "docker is required"
command -v ldd >/dev/null || die "ldd is required"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-images.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Paths of the shared objects a binary loads, the loader included; nothing for a static
# binary. ldd prints `name => /path (addr)` for libraries and `/path (addr)` for the loader.
shared_objects() {
    local out
    if ! out=$(ldd "$1" 2>&1); then
        [[ $out == *"not a dynamic executable"* || $out == *"statically linked"* ]] && return 0
        die "ldd $1: $out"
    fi
    if grep -q "not found" <<<"$out"; then
        die "ldd $1: missing libraries: $(grep 'not found' <<<"$out" | tr -s ' \t' ' ')"
    fi
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out" | sort -u
}

# stage ROOTFS BINARY NAME: the binary as /usr/local/bin/NAME and its libraries at the
# paths ldd printed (dereferenced, so symlinked names become files).
stage() {
    local rootfs=$1 bin=$2 name=$3 lib
    install -D -m 0755 "$bin" "$rootfs/usr/local/bin/$name"
    for lib in $(shared_objects "$bin"); do
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
    done
}

# inputs_hash FILE...: one hash over the build inputs and this script.
inputs_hash() {
    sha256sum "$@" "${BASH_SOURCE[0]}" | awk '{ print $1 }' | sha256sum | awk '{ print $1 }'
}

image_inputs() {
    docker image inspect --format '{{ index .Config.Labels "cairn.inputs" }}' "$1" 2>/dev/null || true
}

# build_image TAG CONTEXT: the classic builder, which every engine has (BuildKit needs
# buildx on newer clients); its output only matters when it fails.
# The image it replaces is removed once nothing uses it, so rebuilds do not pile up
# 400 MB untagged images.
build_image() {
    local out old
    old=$(docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true)
    if ! out=$(DOCKER_BUILDKIT=0 docker build -q -t "$1" "$2" 2>&1); then
        die "docker build of $1 failed: $out"
    fi
    if [[ -n $old && $old != "$(docker image inspect --format '{{.Id}}' "$1")" ]]; then
        docker image rm "$old" >/dev/null 2>&1 || true
    fi
}

# --- cairn:local ----------------------------------------------------------------------
ctx=$WORK/cairn
mkdir -p "$ctx/rootfs/etc" "$ctx/rootfs/tmp" "$ctx/data"
stage "$ctx/rootfs" "$CAIRN_BIN" cairn
chmod 1777 "$ctx/rootfs/tmp"
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
fi
# A name for the uid, and host lookups through /etc/hosts before DNS, as in Debian.
echo "cairn:x:10001:10001:cairn:/data:/nonexistent" >"$ctx/rootfs/etc/passwd"
echo "cairn:x:10001:" >"$ctx/rootfs/etc/group"
echo "hosts: files dns" >"$ctx/rootfs/etc/nsswitch.conf"
mapfile -t cairn_libs < <(shared_objects "$CAIRN_BIN")
cairn_hash=$(inputs_hash "$CAIRN_BIN" "${cairn_libs[@]}")

cat >"$ctx/Dockerfile" <<EOF
FROM scratch
COPY rootfs/ /
COPY --chown=$UID_GID data/ /data/
ENV PATH=/usr/local/bin
USER $UID_GID
WORKDIR /data
EXPOSE 9009 9095
LABEL org.opencontainers.image.title="cairn" cairn.inputs="$cairn_hash"
ENTRYPOINT ["cairn"]
EOF

if [[ $(image_inputs "$CAIRN_IMAGE") == "$cairn_hash" ]]; then
    log "$CAIRN_IMAGE is up to date"
else
    log "building $CAIRN_IMAGE from $CAIRN_BIN ($(du -sh "$ctx/rootfs" | cut -f1))"
    build_image "$CAIRN_IMAGE" "$ctx"
fi

# --- cairn-s3:local -------------------------------------------------------------------
ctx=$WORK/s3
mkdir -p "$ctx/rootfs" "$ctx/data/$S3_BUCKET"
stage "$ctx/rootfs" "$S3S_FS" s3s-fs
mapfile -t s3_libs < <(shared_objects "$S3S_FS")
s3_hash=$(inputs_hash "$S3S_FS" "${s3_libs[@]}" <(echo "$cairn_hash $S3_BUCKET"))

cat >"$ctx/Dockerfile" <<EOF
FROM $CAIRN_IMAGE
COPY rootfs/ /
COPY --chown=$UID_GID data/ /data/
EXPOSE 9000
LABEL org.opencontainers.image.title="cairn-s3" cairn.inputs="$s3_hash"
ENTRYPOINT ["s3s-fs"]
CMD ["--host", "0.0.0.0", "--port", "9000", "/data"]
EOF

if [[ $(image_inputs "$CAIRN_S3_IMAGE") == "$s3_hash" ]]; then
    log "$CAIRN_S3_IMAGE is up to date"
else
    log "building $CAIRN_S3_IMAGE from $S3S_FS"
    build_image "$CAIRN_S3_IMAGE" "$ctx"
fi
log "images: $CAIRN_IMAGE $CAIRN_S3_IMAGE"
