#!/usr/bin/env bash
# Builds (once, then cached) moto's S3 server, the tests' faithful S3 stand-in, and prints the folder of
# its `moto_server` launcher as the last line on stdout.
#
# s3rver has no versioning, no conditional writes and no Object Lock; moto has all three. Debian sid
# carries it (python3-moto, with flask and flask-cors for the server), built for a newer Python and glibc
# than the host's: debootstrap unpacks it into a folder of its own, and patchelf points a copy of that
# folder's python at its loader and libraries, so it runs with host paths, needing neither root nor a
# chroot (nor a /proc mount to clean up) at run time.
#
#   bash scripts/moto-server.sh             build when missing, print the launcher's folder
#   bash scripts/moto-server.sh --if-built  print the folder only if it is already built
#   "$(bash scripts/moto-server.sh | tail -n 1)/moto_server" -H 127.0.0.1 -p 5000
#
# Cache: $PGPROOF_TOOLCHAIN_DIR, default /var/cache/pgproof (root) or ~/.cache/pgproof.
set -euo pipefail

fail() {
  echo "pgproof moto: $*" >&2
  exit 1
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=debian-root.sh
source "$here/debian-root.sh"
cache="$(toolchain_cache)"
name=moto-server
dest="$cache/$name"
# Debian's own launcher needs only the server module; the packages debootstrap does not resolve by itself
# (python3-cffi-backend provides the virtual api packages python3-cryptography depends on).
packages=python3-moto,python3-flask,python3-flask-cors,python3-cffi-backend

if "$dest/bin/moto_server" --help >/dev/null 2>&1; then
  echo "$dest/bin"
  exit 0
fi
[[ "${1:-}" == "--if-built" ]] && exit 0

debian_architecture
[[ "$(id -u)" == 0 ]] || fail "building the moto S3 server needs root (debootstrap); run 'sudo bash scripts/moto-server.sh' once"

ensure_debootstrap
mirror="$(debian_mirror)"
[[ -n "$mirror" ]] || fail "no Debian archive in /etc/apt/sources.list*; add one"

mkdir -p "$cache"
work="$(mktemp -d "$cache/.build-$name-XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/root"
suite=sid
echo "pgproof moto: unpacking python3-moto from Debian $suite (about 50 s, 500 MB, once)" >&2
if ! debootstrap --variant=minbase --arch="$arch" --include="$packages" "$suite" "$root" "$mirror" \
  >"$work/debootstrap.log" 2>&1; then
  tail -n 5 "$work/debootstrap.log" >&2
  fail "debootstrap of Debian $suite with $packages failed (log above); the network or the archive at $mirror may be unreachable, or a dependency changed"
fi

# The final paths: python is patched to find the loader and libraries where they will stay, and finds
# its standard library and Debian's dist-packages through PYTHONHOME.
final_root="$dest/root"
python="$(readlink -f "$root/usr/bin/python3")"
python="$(basename "$python")"
mkdir -p "$work/bin"
cp "$root/usr/bin/$python" "$work/bin/python3"
patch_to_root "$work/bin/python3" "$final_root"
# -s: no user site-packages; -P: not the working directory on sys.path either (only the root's modules).
cat >"$work/bin/moto_server" <<EOF
#!/bin/sh
# moto's server from Debian $suite, run with that root's python on this machine (scripts/moto-server.sh).
PYTHONHOME="$final_root/usr" exec "$dest/bin/python3" -s -P -m moto.server "\$@"
EOF
chmod +x "$work/bin/moto_server"
rm -rf "$dest"
mkdir -p "$dest"
mv "$root" "$final_root"
mv "$work/bin" "$dest/"
"$dest/bin/moto_server" --help >/dev/null || fail "the unpacked moto does not run on this machine ($dest/bin/moto_server)"
version="$(PYTHONHOME="$final_root/usr" "$dest/bin/python3" -s -P -c 'import moto; print(moto.__version__)')"
echo "Debian $suite: moto $version, Python ${python#python}" >"$dest/SOURCE"
echo "pgproof moto: $(cat "$dest/SOURCE") in $dest" >&2
echo "$dest/bin"
