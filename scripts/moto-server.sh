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

if [[ -n "${PGPROOF_TOOLCHAIN_DIR:-}" ]]; then
  cache="$PGPROOF_TOOLCHAIN_DIR"
elif [[ "$(id -u)" == 0 ]]; then
  cache=/var/cache/pgproof
else
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/pgproof"
fi
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

case "$(uname -m)" in
  x86_64) arch=amd64 triplet=x86_64-linux-gnu loader=ld-linux-x86-64.so.2 ;;
  aarch64) arch=arm64 triplet=aarch64-linux-gnu loader=ld-linux-aarch64.so.1 ;;
  *) fail "no recipe for $(uname -m)" ;;
esac
[[ "$(id -u)" == 0 ]] || fail "building the moto S3 server needs root (debootstrap); run 'sudo bash scripts/moto-server.sh' once"

missing=()
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v patchelf >/dev/null 2>&1 || missing+=(patchelf)
if ((${#missing[@]})); then
  echo "pgproof moto: installing ${missing[*]} from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian archive this machine's apt already uses (its first `.../debian` source).
mirror="$(
  {
    sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
    sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  } | tr ' ' '\n' | grep -E '/debian/?$' | head -n 1
)" || true
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
patchelf --set-interpreter "$final_root/usr/lib/$triplet/$loader" --force-rpath \
  --set-rpath "$final_root/usr/lib/$triplet:$final_root/lib/$triplet" "$work/bin/python3"
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
