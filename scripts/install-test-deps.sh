#!/usr/bin/env bash
# Installs the real peers Cairn's tests run against:
#   from Debian: prometheus 2.42 (remote_write sender, PromQL reference, benchmark baseline);
#   from PyPI:   moto_server (a real S3 server standing in for MinIO) and pyarrow (reads
#                Cairn's Parquet blocks the way outside tools would);
#   with cargo install: s3s-fs (an S3 server on a directory), which the docker-compose cluster
#                test packs into its `cairn-s3:local` image since no image can be pulled.
# Idempotent: does nothing when everything is present.
set -euo pipefail

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing test peers: ${need[*]}"
  $sudo apt-get update -qq
  # The package's service must not grab port 9090 on the test machine.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts the service where init allows it; tests run their own instances.
  ($sudo systemctl stop prometheus 2>/dev/null || $sudo service prometheus stop 2>/dev/null || true) >/dev/null 2>&1
fi
prometheus --version 2>&1 | head -n 1

pip_need=()
command -v moto_server >/dev/null 2>&1 || pip_need+=("moto[server]")
python3 -c 'import pyarrow' >/dev/null 2>&1 || pip_need+=(pyarrow)
if [ ${#pip_need[@]} -gt 0 ]; then
  echo "installing test peers from PyPI: ${pip_need[*]}"
  python3 -m pip install -q --disable-pip-version-check "${pip_need[@]}"
fi
echo "moto_server: $(command -v moto_server)"
python3 -c 'import pyarrow; print("pyarrow", pyarrow.__version__)'

# s3s-fs 0.14.1 is the newest release whose rust-version (1.92) the toolchain here meets.
S3S_FS_VERSION=0.14.1
if ! command -v s3s-fs >/dev/null 2>&1 || ! s3s-fs --version 2>/dev/null | grep -q "$S3S_FS_VERSION"; then
  echo "installing s3s-fs $S3S_FS_VERSION with cargo install"
  # Without CARGO_TARGET_DIR cargo builds in a temporary directory it removes afterwards.
  env -u CARGO_TARGET_DIR cargo install -q --locked --features binary s3s-fs --version "$S3S_FS_VERSION"
fi
echo "s3s-fs: $(command -v s3s-fs)"
