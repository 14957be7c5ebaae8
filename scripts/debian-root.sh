# Sourced by the scripts that build a tool from a newer Debian suite into a folder of its own
# (postgres-client.sh, moto-server.sh): where the cache is, the machine's architecture, debootstrap and
# patchelf, the Debian archive this machine's apt already uses, and patching a program to run with
# that folder's loader and libraries. The sourcing script defines `fail MESSAGE` first.

# The cache: $PGPROOF_TOOLCHAIN_DIR, default /var/cache/pgproof (root) or ~/.cache/pgproof.
toolchain_cache() {
  if [[ -n "${PGPROOF_TOOLCHAIN_DIR:-}" ]]; then
    echo "$PGPROOF_TOOLCHAIN_DIR"
  elif [[ "$(id -u)" == 0 ]]; then
    echo /var/cache/pgproof
  else
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/pgproof"
  fi
}

# Sets `arch`, `triplet` and `loader` for this machine; `hint` is added to the failure's message.
debian_architecture() {
  case "$(uname -m)" in
    x86_64) arch=amd64 triplet=x86_64-linux-gnu loader=ld-linux-x86-64.so.2 ;;
    aarch64) arch=arm64 triplet=aarch64-linux-gnu loader=ld-linux-aarch64.so.1 ;;
    *) fail "no recipe for $(uname -m)${1:+; $1}" ;;
  esac
}

# Installs debootstrap and patchelf from Debian when missing (the caller has checked it runs as root).
ensure_debootstrap() {
  local missing=()
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v patchelf >/dev/null 2>&1 || missing+=(patchelf)
  if ((${#missing[@]})); then
    echo "pgproof: installing ${missing[*]} from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# The Debian archive this machine's apt already uses (its first `.../debian` source), or nothing.
debian_mirror() {
  {
    sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
    sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  } | tr ' ' '\n' | grep -E '/debian/?$' | head -n 1 || true
}

# Points PROGRAM at the loader and libraries of FINAL_ROOT, the folder its Debian root will be moved to.
patch_to_root() {
  local program="$1" final_root="$2"
  patchelf --set-interpreter "$final_root/usr/lib/$triplet/$loader" --force-rpath \
    --set-rpath "$final_root/usr/lib/$triplet:$final_root/lib/$triplet" "$program"
}
