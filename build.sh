#!/usr/bin/env bash
# One entry point for SamRealtime: setup | build | pack | test | demo | bench | info.
# `./build.sh test` and `./build.sh demo` each work on a fresh Debian machine with only the .NET SDK:
# they run setup first, which installs what is missing and fetches the model weights.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
CONFIG=${CONFIG:-Release}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    log "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup() {
    command -v dotnet >/dev/null || { echo "The .NET SDK (10) is required: https://dot.net" >&2; exit 1; }
    # Vulkan loader + lavapipe (CPU driver), shader compiler, validation layer, GTK for OpenCV's HighGUI,
    # npm to fetch the weights, opencv-doc for its example videos. gcc and libc6-dev: NativeAOT links libsamrt.so with
    # clang or, when there is none, gcc (binutils comes with it; zlib is bundled since .NET 9), and the C ABI test
    # compiles the C sample; libc6-dev is only a recommendation of gcc, so --no-install-recommends would skip it.
    # libvulkan-dev: vulkan.h and libvulkan.so for the C ABI test that plays a host engine with its own device.
    # pkgconf and libstb-dev: the packaging test builds the C sample (stb_image reads its image) with
    # `pkg-config --cflags --libs samrt stb` against the libsamrt tarball.
    local pkgs=(libvulkan1 mesa-vulkan-drivers glslc vulkan-validationlayers libgtk-3-0 opencv-doc xvfb gcc libc6-dev libvulkan-dev
                pkgconf libstb-dev)
    # npm may come from Node.js's own packages (which conflict with Debian's npm): only ask apt when it is missing.
    command -v npm >/dev/null || pkgs+=(npm)
    apt_install "${pkgs[@]}"
    bash models/fetch.sh
}

build() {
    log "building ($CONFIG)"
    dotnet build SamRealtime.sln -c "$CONFIG" -nologo -v:q
    native
}

# The C ABI: libsamrt.so (NativeAOT) and include/samrt.h in artifacts/native, which the C sample and CAbiTests use.
# MSBuild skips the AOT compile and link when no input changed, so an unchanged tree costs a few seconds here.
rid() {
    case "$(uname -m)" in
        x86_64) echo linux-x64 ;;
        aarch64 | arm64) echo linux-arm64 ;;
        *) echo "NativeAOT has no Linux target for $(uname -m)" >&2; exit 1 ;;
    esac
}

native() {
    local rid
    rid=$(rid)
    log "publishing artifacts/native/libsamrt.so (NativeAOT, $rid)"
    dotnet publish src/SamRealtime.Native -c "$CONFIG" -r "$rid" -nologo -v:q -o artifacts/native
}

# What a user installs, in artifacts/packages: the NuGet packages SamRealtime and SamRealtime.Capture, the .NET tool
# samrt, and libsamrt-VERSION-RID.tar.gz (include/samrt.h, lib/libsamrt.so, lib/pkgconfig/samrt.pc). Needs a build.
pack() {
    local version rid name stage
    version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
    rid=$(rid)
    name=libsamrt-$version-$rid
    log "packing artifacts/packages (NuGet packages and $name.tar.gz)"
    rm -rf artifacts/packages
    for project in src/SamRealtime src/SamRealtime.Capture src/SamRealtime.Cli; do
        dotnet pack "$project" -c "$CONFIG" --no-build -nologo -v:q -o artifacts/packages
    done
    stage=artifacts/tarball/$name
    rm -rf artifacts/tarball
    mkdir -p "$stage/include" "$stage/lib/pkgconfig"
    cp artifacts/native/include/samrt.h "$stage/include/"
    cp artifacts/native/libsamrt.so "$stage/lib/"
    cp LICENSE "$stage/"
    # ${pcfiledir} makes the tree relocatable: unpack it anywhere. The rpath lets a program built with it run
    # without LD_LIBRARY_PATH; drop it (or override Libs) when installing into a system prefix.
    cat > "$stage/lib/pkgconfig/samrt.pc" <<EOF
prefix=\${pcfiledir}/../..
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: samrt
Description: Segment Anything on Vulkan compute shaders (SamRealtime's C ABI)
Version: $version
Libs: -L\${libdir} -lsamrt -Wl,-rpath,\${libdir}
Cflags: -I\${includedir}
EOF
    tar -C artifacts/tarball -czf "artifacts/packages/$name.tar.gz" "$name"
    ls -l artifacts/packages >&2
}

samrt() { dotnet "src/SamRealtime.Cli/bin/$CONFIG/net10.0/samrt.dll" "$@"; }

cmd=${1:-all}
shift || true
case "$cmd" in
    setup) setup ;;
    build) build ;;
    pack) build; pack ;;
    all) setup; build ;;
    test)
        # The packaging tests install the tool and link the C sample from artifacts/packages.
        setup; build; pack
        log "testing (Vulkan validation on: any warning or error fails the test that caused it)"
        export SAMRT_VALIDATION=1
        set +e
        dotnet test SamRealtime.sln -c "$CONFIG" --no-build -nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee /tmp/samrt-test.log
        status=${PIPESTATUS[0]}
        set -e
        # A plain closing line any CI reader understands.
        passed=$({ grep -Eo 'Passed: *[0-9]+' /tmp/samrt-test.log || true; } | awk '{s+=$2} END {print s+0}')
        failed=$({ grep -Eo 'Failed: *[0-9]+' /tmp/samrt-test.log || true; } | awk '{s+=$2} END {print s+0}')
        echo "$passed passed, $failed failed"
        exit "$status"
        ;;
    demo)
        setup; build
        samrt demo "$@"
        ;;
    bench) build; samrt bench "$@" ;;
    info) build; samrt info ;;
    *) echo "usage: ./build.sh [setup|build|pack|test|demo|bench|info]" >&2; exit 2 ;;
esac
