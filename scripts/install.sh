#!/usr/bin/env bash
# Installs anychat-rs the way legacy Linux makefiles expect it:
#   $PREFIX/lib/libanychatcore.so.X.Y.Z   (SONAME libanychatcore.so.X), stripped: the one file
#   holding both the client (BRAC_*) and the business-server (BRAS_*) API, with the names
#   libanychatcore.so.X, libanychatcore.so, libanychatserversdk.so.X and libanychatserversdk.so
#   as symlinks to it, so -lanychatcore / -lanychatserversdk link (both record
#   libanychatcore.so.X) and programs built against either vendor name run after ldconfig;
#   $PREFIX/include/anychat/*.h, $PREFIX/lib/pkgconfig/anychatcore.pc and anychatserversdk.pc,
#   $PREFIX/bin/anychat-server (stripped) and its systemd unit
#   $PREFIX/lib/systemd/system/anychat-server.service (from dist/).
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
#   STRIP    0 = keep the debugging information (default: strip the library and the server)
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
major=${version%%.*}

# The builds must not see the install's DESTDIR and PREFIX: bundled C and
# C++ (libopus, WebRTC audio processing) run `make install` into cargo's
# build folders, which DESTDIR would move elsewhere.
build() { env -u DESTDIR -u PREFIX cargo build "$@"; }

if [ -z "${LIB:-}" ]; then
    profile=${PROFILE:-release}
    out="${CARGO_TARGET_DIR:-target}/$([ "$profile" = dev ] && echo debug || echo "$profile")"
    if [ -z "${BIN:-}" ]; then
        # The core server needs none of the library's H.264 (openh264, C++).
        build --profile "$profile" --locked --bin anychat-server --no-default-features --features cli
        BIN=$out/anychat-server
    fi
    build --profile "$profile" --locked --lib
    LIB=$out/libanychat.so
fi
[ -f "$LIB" ] || { echo "install.sh: no library at $LIB" >&2; exit 1; }
command -v patchelf >/dev/null || { echo "install.sh: patchelf is needed (apt-get install patchelf)" >&2; exit 1; }
strip_it() { # file
    if [ "${STRIP:-1}" != 0 ]; then
        command -v strip >/dev/null || { echo "install.sh: strip is needed (binutils), or STRIP=0" >&2; exit 1; }
        strip --strip-unneeded "$1"
    fi
}

libdir="$DESTDIR$PREFIX/lib"
incdir="$DESTDIR$PREFIX/include/anychat"
pcdir="$libdir/pkgconfig"
bindir="$DESTDIR$PREFIX/bin"
mkdir -p "$libdir" "$incdir" "$pcdir"

# One real file: the vendor's two library names are symlinks to it.
real="libanychatcore.so.$version"
rm -f "$libdir/libanychatserversdk.so.$version" # a copy left by an older install
install -m 0755 "$LIB" "$libdir/$real"
strip_it "$libdir/$real"
patchelf --set-soname "libanychatcore.so.$major" "$libdir/$real"
for name in anychatcore anychatserversdk; do
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
    strip_it "$bindir/anychat-server"
    unitdir="$DESTDIR$PREFIX/lib/systemd/system"
    mkdir -p "$unitdir"
    sed "s|@BINDIR@|$PREFIX/bin|g" dist/anychat-server.service > "$unitdir/anychat-server.service"
    chmod 0644 "$unitdir/anychat-server.service"
fi

if [ "${LDCONFIG:-auto}" = 1 ] || { [ "${LDCONFIG:-auto}" = auto ] && [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ] \
        && [ "$PREFIX" = /usr/local -o "$PREFIX" = /usr ]; }; then
    ldconfig
fi
echo "installed anychat-rs $version into $DESTDIR$PREFIX"
