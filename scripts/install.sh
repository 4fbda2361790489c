#!/usr/bin/env bash
# Installs anychat-rs the way legacy Linux makefiles expect it:
#   $PREFIX/lib/libanychatcore.so.X.Y.Z      (SONAME libanychatcore.so.X)   client, BRAC_*
#   $PREFIX/lib/libanychatserversdk.so.X.Y.Z (SONAME libanychatserversdk.so.X) business server, BRAS_*
#   with the .so.X and .so symlinks, so -lanychatcore / -lanychatserversdk link and the
#   program runs after ldconfig;
#   $PREFIX/include/anychat/*.h, $PREFIX/lib/pkgconfig/anychatcore.pc and anychatserversdk.pc,
#   $PREFIX/bin/anychat-server.
#
# Usage: PREFIX=/usr/local scripts/install.sh
#   PREFIX   where to install (default /usr/local)
#   DESTDIR  staging root prepended to every path (packaging)
#   LIB      an already built libanychat.so to install (default: cargo build --release --lib,
#            with the default features: H.264 included)
#   BIN      an already built anychat-server to install (default, when LIB is not given:
#            cargo build --release --bin anychat-server --no-default-features --features cli,
#            a server without openh264 and without libstdc++)
#   PROFILE  the cargo profile of those builds (default release; dev is quicker, for checks)
#   LDCONFIG 1 = run ldconfig afterwards (default: 1 when installing into the system as root)
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
major=${version%%.*}

if [ -z "${LIB:-}" ]; then
    profile=${PROFILE:-release}
    out="${CARGO_TARGET_DIR:-target}/$([ "$profile" = dev ] && echo debug || echo "$profile")"
    if [ -z "${BIN:-}" ]; then
        # The core server needs none of the library's H.264 (openh264, C++).
        cargo build --profile "$profile" --locked --bin anychat-server --no-default-features --features cli
        BIN=$out/anychat-server
    fi
    cargo build --profile "$profile" --locked --lib
    LIB=$out/libanychat.so
fi
[ -f "$LIB" ] || { echo "install.sh: no library at $LIB" >&2; exit 1; }
command -v patchelf >/dev/null || { echo "install.sh: patchelf is needed (apt-get install patchelf)" >&2; exit 1; }

libdir="$DESTDIR$PREFIX/lib"
incdir="$DESTDIR$PREFIX/include/anychat"
pcdir="$libdir/pkgconfig"
bindir="$DESTDIR$PREFIX/bin"
mkdir -p "$libdir" "$incdir" "$pcdir"

for name in anychatcore anychatserversdk; do
    real="lib$name.so.$version"
    install -m 0755 "$LIB" "$libdir/$real"
    patchelf --set-soname "lib$name.so.$major" "$libdir/$real"
    ln -sf "$real" "$libdir/lib$name.so.$major"
    ln -sf "lib$name.so.$major" "$libdir/lib$name.so"
done

install -m 0644 include/*.h "$incdir/"

write_pc() { # name description
    cat > "$pcdir/$1.pc" <<PC
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include/anychat

Name: $1
Description: $2
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -l$1
Libs.private: -lpthread -ldl
PC
}
write_pc anychatcore "anychat-rs client library (BRAC_* API of the AnyChat SDK)"
write_pc anychatserversdk "anychat-rs business-server library (BRAS_* API of the AnyChat server SDK)"

if [ -n "${BIN:-}" ] && [ -f "$BIN" ]; then
    mkdir -p "$bindir"
    install -m 0755 "$BIN" "$bindir/anychat-server"
fi

if [ "${LDCONFIG:-auto}" = 1 ] || { [ "${LDCONFIG:-auto}" = auto ] && [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ] \
        && [ "$PREFIX" = /usr/local -o "$PREFIX" = /usr ]; }; then
    ldconfig
fi
echo "installed anychat-rs $version into $DESTDIR$PREFIX"
