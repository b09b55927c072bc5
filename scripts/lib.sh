# Shared by scripts/*: paths, logging, configure + build. Source, don't run.
EDGEFED_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EDGEFED_BUILD_DIR=${EDGEFED_BUILD_DIR:-$EDGEFED_ROOT/build}

log() { printf '[edgefed] %s\n' "$*" >&2; }
die() { printf '[edgefed] error: %s\n' "$*" >&2; exit 1; }

# Torch spins two OpenMP threads by default, which thrashes on a 2-core box.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

jobs() { nproc 2>/dev/null || echo 2; }

# Let ccache hit across checkouts (CI builds a fresh clone elsewhere): paths relative to the
# tree, and the working directory left out of the hash.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$EDGEFED_ROOT}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

# configure_and_build SANITIZE(ON|OFF): Ninja + ccache, RelWithDebInfo; reconfigures only
# when the cache is missing or the sanitizer choice changed.
configure_and_build() {
  local sanitize=${1:-OFF}
  local cache="$EDGEFED_BUILD_DIR/CMakeCache.txt"
  if [ ! -f "$cache" ] || [ ! -f "$EDGEFED_BUILD_DIR/build.ninja" ] || ! grep -q "^EDGEFED_SANITIZE:BOOL=$sanitize\$" "$cache"; then
    log "configuring $EDGEFED_BUILD_DIR (RelWithDebInfo, Ninja, ccache, sanitize=$sanitize)"
    cmake -S "$EDGEFED_ROOT" -B "$EDGEFED_BUILD_DIR" -G Ninja \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache \
      -DCMAKE_INSTALL_PREFIX="$EDGEFED_BUILD_DIR/stage" \
      -DEDGEFED_SANITIZE="$sanitize" >&2
  fi
  log "building"
  cmake --build "$EDGEFED_BUILD_DIR" -j "$(jobs)"
}
