#!/usr/bin/env bash
# Builds (once, then cached) the PostgreSQL client that production ships, runnable on this machine, and
# prints its bin folder as the last line on stdout.
#
# The runner image installs postgresql-client-<postgresClientMajor> (scripts/toolchain.json); Debian
# bookworm has only 15. Debian's newer suites carry newer clients, built against a newer glibc than the
# host's: debootstrap unpacks one into a folder of its own, and patchelf points copies of pg_dump,
# pg_dumpall, pg_restore and psql at that folder's loader and libraries, so they run with host paths.
# (Run through the loader alone, pg_dumpall breaks: it execs pg_dump to check its version.)
#
#   bash scripts/postgres-client.sh             build when missing, print the bin folder
#   bash scripts/postgres-client.sh --if-built  print the bin folder only if it is already built
#
# Cache: $PGPROOF_TOOLCHAIN_DIR, default /var/cache/pgproof (root) or ~/.cache/pgproof.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fail() {
  echo "pgproof toolchain: $*" >&2
  exit 1
}

major="$(grep -o '"postgresClientMajor" *: *[0-9]*' "$here/toolchain.json" | grep -o '[0-9]*$')" || true
[[ -n "$major" ]] || fail "no postgresClientMajor in scripts/toolchain.json"

# shellcheck source=debian-root.sh
source "$here/debian-root.sh"
cache="$(toolchain_cache)"
package="postgresql-client-$major"
dest="$cache/$package"

if "$dest/bin/pg_dump" --version >/dev/null 2>&1 && "$dest/bin/pg_dumpall" --version >/dev/null 2>&1; then
  echo "$dest/bin"
  exit 0
fi
[[ "${1:-}" == "--if-built" ]] && exit 0

debian_architecture "set PG_BIN_DIR to a PostgreSQL $major client's bin folder"
[[ "$(id -u)" == 0 ]] || fail "building the PostgreSQL $major client needs root (debootstrap); run 'sudo bash scripts/postgres-client.sh' once, or set PG_BIN_DIR to a PostgreSQL $major client's bin folder"

ensure_debootstrap
mirror="$(debian_mirror)"
[[ -n "$mirror" ]] || fail "no Debian archive in /etc/apt/sources.list*; add one, or set PG_BIN_DIR to a PostgreSQL $major client's bin folder"

mkdir -p "$cache"
work="$(mktemp -d "$cache/.build-$package-XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/root"
suites=(trixie sid)
built=""
for suite in "${suites[@]}"; do
  echo "pgproof toolchain: unpacking $package from Debian $suite (about 30 s, 200 MB, once)" >&2
  if debootstrap --variant=minbase --arch="$arch" --include="$package" "$suite" "$root" "$mirror" \
    >"$work/debootstrap.log" 2>&1; then
    built="$suite"
    break
  fi
  if ! grep -q "Couldn't find these debs: .*$package" "$work/debootstrap.log"; then
    tail -n 5 "$work/debootstrap.log" >&2
    fail "debootstrap of Debian $suite failed (log above); the network or the archive at $mirror may be unreachable"
  fi
  rm -rf "$root"
done
[[ -n "$built" ]] ||
  fail "Debian (${suites[*]}) does not carry $package (any more): change postgresClientMajor in scripts/toolchain.json to a major it carries; the runner image installs the same major"

# The final paths: the programs are patched to find the loader and libraries where they will stay.
final_root="$dest/root"
mkdir -p "$work/bin"
for program in pg_dump pg_dumpall pg_restore psql; do
  cp "$root/usr/lib/postgresql/$major/bin/$program" "$work/bin/$program"
  patch_to_root "$work/bin/$program" "$final_root"
done
rm -rf "$dest"
mkdir -p "$dest"
mv "$root" "$final_root"
mv "$work/bin" "$dest/"
for program in pg_dump pg_dumpall pg_restore psql; do
  "$dest/bin/$program" --version >/dev/null || fail "the unpacked $package does not run on this machine ($dest/bin/$program)"
done
echo "Debian $built: $("$dest/bin/pg_dump" --version)" >"$dest/SOURCE"
echo "pgproof toolchain: $(cat "$dest/SOURCE") in $dest" >&2
echo "$dest/bin"
