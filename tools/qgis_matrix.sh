#!/usr/bin/env bash
# `make qgis-matrix`: the plugin's real-QGIS checks in the QGIS versions users run, each in its own Debian root.
#
#   QGIS 3.40 LTR  Debian 13 "trixie"   (Python 3.13, numpy 2.2, Debian's python3-onnxruntime)
#   QGIS 3.44      Debian unstable "sid" (Python 3.14, numpy 2.4)
#
# Needs root (debootstrap, chroot, mount namespaces; run again through sudo otherwise). Each root is built once with `debootstrap --variant=minbase`
# and apt (Debian packages only, no pip) and cached under ${MOSAIC_CACHE:-~/.cache/mosaic-qgis}/roots; a root whose
# package list changed is rebuilt. On the host, the project's venv exports a test network (torch) and runs
# `mosaic predict` on the real T33UUP band files as the reference. Inside each root, in a private mount namespace
# (the checkout and the data bind-mounted read-only, nothing left mounted afterwards),
# tools/qgis_matrix_check.py runs qgis_process.bin and a qgis.core + processing script and compares their
# probabilities with the reference (1e-5); the desktop opens the dock and, from the Raster menu, the training dialog,
# which trains on the bundled sample with the project's venv as backend (check 8 of the check script). Then, in a
# throw-away overlay of the Debian 13 root without Debian's
# python3-onnxruntime and with python3-pip (the cached root stays as it is), the dock's one-click onnxruntime install
# runs pip with QGIS's Python (PyPI; pip trusts the host's CA bundle) and the dock's run must equal the reference.
# A failure prints one line naming the QGIS version; exit status 1.
#
# Environment: MOSAIC_CACHE (cache folder), MOSAIC_SHARED_DATA (default ../shared/data),
# MOSAIC_DEBIAN_MIRROR (default http://deb.debian.org/debian), MOSAIC_MATRIX (roots to run, default "trixie sid").
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
cache=${MOSAIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosaic-qgis}
shared=$(realpath -m "${MOSAIC_SHARED_DATA:-../shared/data}")
data=$shared/bigearthnet-v2-t33uup-mosaic
mirror=${MOSAIC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
matrix=${MOSAIC_MATRIX:-trixie sid}
packages=(qgis python3-qgis qgis-providers python3-gdal python3-numpy python3-onnxruntime xvfb xauth)
declare -A expected_qgis=([trixie]=3.40 [sid]=3.44)  # the oldest accepted: unstable moves on, and its newer QGIS is then tested
py=.venv/bin/python
#: where the checkout, the data and the run's work folder appear inside a root (bind mounts; MOSAIC_MATRIX_MOUNT)
inside=${MOSAIC_MATRIX_MOUNT:-/mosaic}

fail() { echo "qgis-matrix: FAIL: $*" >&2; exit 1; }
say() { printf 'qgis-matrix: %s\n' "$*"; }
# run "$@", up to 3 tries 10 s apart (mirrors and networks fail transiently)
retry() {
    local try
    for try in 1 2 3; do
        "$@" && return 0
        [ "$try" = 3 ] || { say "try $try of 3 failed: $*; retrying in 10 s" >&2; sleep 10; }
    done
    return 1
}
# step NAME CMD...: run a step, print its duration in seconds
step() {
    local name=$1 start=$SECONDS
    shift
    "$@"
    say "$name: $((SECONDS - start)) s"
}
# in_root ROOT CMD...: run CMD chrooted in ROOT inside a private mount namespace (/proc, /dev and the bind mounts
# in $binds, SOURCE TARGET ro|rw|rbind triples, exist only for this command); with $overlay set (a folder), chrooted
# in an overlay of ROOT whose changes go to $overlay/upper and outlive the command, ROOT itself unchanged
binds=()
overlay=
in_root() {
    local root=$1
    shift
    # shellcheck disable=SC2016  # $-expressions are expanded by the inner shell
    unshare --mount --propagation private bash -euc '
        root=$1; overlay=$2; shift 2; nbinds=$1; shift
        if [ -n "$overlay" ]; then
            mkdir -p "$overlay/upper" "$overlay/work" "$overlay/root"
            mount -t overlay overlay -o "lowerdir=$root,upperdir=$overlay/upper,workdir=$overlay/work" "$overlay/root"
            root=$overlay/root
        fi
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        while [ "$nbinds" -gt 0 ]; do
            mkdir -p "$root$2"
            if [ "$3" = rbind ]; then mount --rbind "$1" "$root$2"; else mount --bind "$1" "$root$2"; fi
            [ "$3" = ro ] && mount -o remount,bind,ro "$root$2"
            shift 3; nbinds=$((nbinds - 1))
        done
        exec chroot "$root" "$@"
    ' in_root "$root" "$overlay" $((${#binds[@]} / 3)) "${binds[@]}" "$@"
}

if [ "$(id -u)" != 0 ]; then  # debootstrap, chroot and mount namespaces need root: again through sudo
    command -v sudo >/dev/null || fail "needs root (debootstrap, chroot, mount namespaces) and there is no sudo"
    exec sudo MOSAIC_CACHE="$cache" MOSAIC_SHARED_DATA="$shared" MOSAIC_DEBIAN_MIRROR="$mirror" \
        MOSAIC_MATRIX="$matrix" bash "$repo/tools/qgis_matrix.sh"
fi
if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap (apt)"
    { retry apt-get update -qq && DEBIAN_FRONTEND=noninteractive retry apt-get install -y -qq debootstrap; } >/dev/null ||
        fail "could not install debootstrap with apt-get"
fi
for tool in unshare chroot; do
    command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install util-linux coreutils)"
done
[ -x "$py" ] || fail "no project venv at .venv: run 'make setup' first"
[ -d "$data" ] || fail "T33UUP band files not found at $data (set MOSAIC_SHARED_DATA)"

# build_root SUITE ROOT: debootstrap + apt into ROOT.new, then move it into place with a stamp of the package list
build_root() {
    local suite=$1 root=$2 stamp=$3 new=$2.new
    # shellcheck disable=SC2317  # called through retry
    fresh_debootstrap() { rm -rf "$new" && debootstrap --variant=minbase "$suite" "$new" "$mirror"; }
    retry fresh_debootstrap >"$new.log" 2>&1 ||
        fail "QGIS ${expected_qgis[$suite]} ($suite): debootstrap failed, see $new.log"
    # sid's Release file may be past its Valid-Until on a frozen mirror; no recommends; no docs, man pages, locales
    {
        echo 'APT::Install-Recommends "false"; Acquire::Retries "5";'
        [ "$suite" = sid ] && echo 'Acquire::Check-Valid-Until "false";'
    } >"$new/etc/apt/apt.conf.d/90mosaic"
    printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-exclude=/usr/share/man/*' \
        'path-exclude=/usr/share/locale/*' >"$new/etc/dpkg/dpkg.cfg.d/90mosaic"
    printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d" && chmod +x "$new/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$new/etc/resolv.conf"
    binds=()
    retry in_root "$new" apt-get update >>"$new.log" 2>&1 ||
        fail "QGIS ${expected_qgis[$suite]} ($suite): apt-get update failed, see $new.log"
    retry in_root "$new" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}" >>"$new.log" 2>&1 ||
        fail "QGIS ${expected_qgis[$suite]} ($suite): apt-get install failed, see $new.log"
    in_root "$new" apt-get clean
    rm -rf "$root" && mv "$new" "$root" && mv "$new.log" "$root.log"
    echo "$stamp" >"$root/.mosaic-packages"
}

mkdir -p "$cache/roots"
exec 9>"$cache/roots/.lock"  # one matrix run at a time on this machine (roots are rebuilt in place)
flock 9
stamp="${packages[*]}"
for suite in $matrix; do
    [ -n "${expected_qgis[$suite]:-}" ] || fail "unknown root '$suite' in MOSAIC_MATRIX (known: ${!expected_qgis[*]})"
    root=$cache/roots/$suite
    if [ "$(cat "$root/.mosaic-packages" 2>/dev/null)" = "$stamp" ]; then
        say "root $suite: cached at $root"
    else
        step "root $suite (debootstrap + apt, first run)" build_root "$suite" "$root" "$stamp"
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mosaic-qgis-matrix.XXXXXX")
# the training check's screenshots of the dialog and the dock (check 8) are kept in $cache/screenshots/ROOT
keep_screenshots() {
    local shots
    for shots in "$work"/training-runs/*/screenshots; do
        [ -d "$shots" ] || continue
        rm -rf "$cache/screenshots/$(basename "$(dirname "$shots")")"
        mkdir -p "$cache/screenshots" && cp -r "$shots" "$cache/screenshots/$(basename "$(dirname "$shots")")"
    done
}
trap 'keep_screenshots; rm -rf "$work"' EXIT
chmod 755 "$work"
s2=() s1=()
for band in B02 B03 B04 B05 B06 B07 B08 B8A B11 B12; do s2+=("$(echo "$data"/*_"$band".tif)"); done
for band in VV VH; do s1+=("$(echo "$data"/*_"$band".tif)"); done
reference() {
    "$py" -c 'import sys; from pathlib import Path; sys.path.insert(0, "tests/plugin")
from model_fixture import export_test_model; export_test_model(Path(sys.argv[1]))' "$work/model.onnx" \
        >"$work/export.log" 2>&1 || fail "host: exporting the test model failed: $(tail -1 "$work/export.log")"
    .venv/bin/mosaic predict --s2 "${s2[@]}" --s1 "${s1[@]}" --model "$work/model.onnx" --out "$work/headless" \
        --stride 120 --no-progress >"$work/predict.log" 2>&1 || fail "host mosaic predict failed: $(tail -1 "$work/predict.log")"
}
step "host: export test model + mosaic predict (reference)" reference

# The training check (8) runs the dialog in the root's QGIS and its backend, PyTorch and Lightning, which Debian does
# not package, with the project's venv: $work/backend-python leaves the root for the host's file system (bound at
# /host) and runs .venv/bin/python there. The checkout and $work appear at their own paths inside the root, so every
# path the dialog hands the backend means the same file on both sides.
training_binds=("$repo" "$repo" ro "$work" "$work" rw / /host rbind)
training_args=()
setup_training() {
    mkdir -p "$work/training-plugins" "$work/backend-home" "$work/backend-tmp"
    ln -sfn "$repo" "$work/training-plugins/mosaic"
    cat >"$work/backend-python" <<SCRIPT
#!/bin/sh
# the project's venv Python on the host's file system, in the directory the caller runs it in
exec env HOME="$work/backend-home" TMPDIR="$work/backend-tmp" \\
    chroot /host /bin/sh -c 'cd "\$0" && exec "\$@"' "\$PWD" "$repo/$py" "\$@"
SCRIPT
    chmod 755 "$work/backend-python"
    training_args=(--training-python "$work/backend-python" --training-plugins "$work/training-plugins"
        --training-data "$repo/sample_data/bigearthnet-v2" --training-runs "$work/training-runs")
}
setup_training

# check_root SUITE NAME [ARG...]: tools/qgis_matrix_check.py with the root's python3 in the root of SUITE (or its
# $overlay), its files in $work/NAME, the variables in $check_env (VAR=VALUE...) added to its environment
check_env=()
check_root() {
    local suite=$1 name=$2
    shift 2
    local run="$inside/run"  # the run's work folder as the root sees it
    binds+=("$repo" "$inside/plugins/mosaic" ro "$data" "$inside/data" ro "$work" "$run" rw)
    mkdir -m 1777 -p "$work/tmp-$name"  # QGIS's and Xvfb's temporary files go with $work, not into the cached root
    in_root "$cache/roots/$suite" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
        TMPDIR="$run/tmp-$name" PYTHONDONTWRITEBYTECODE=1 "${check_env[@]}" \
        python3 "$inside/plugins/mosaic/tools/qgis_matrix_check.py" \
        --plugins "$inside/plugins" --data "$inside/data" --model "$run/model.onnx" \
        --reference "$run/headless/probabilities.tif" --work "$run/$name" \
        --expect-version "${expected_qgis[$suite]}" "$@"
}

status=0
for suite in $matrix; do
    start=$SECONDS binds=("${training_binds[@]}")
    if check_root "$suite" "$suite" "${training_args[@]}"; then
        say "root $suite checks: $((SECONDS - start)) s"
    else
        status=1
    fi
done

# the one-click onnxruntime install where onnxruntime is absent, in QGIS 3.40 (trixie): an overlay of the cached root
# without Debian's python3-onnxruntime, with python3-pip (its package list, if stale, refreshed); pip reaches PyPI and
# trusts the host's CA bundle (a TLS-inspecting proxy's CA included)
install_suite=trixie
if [[ " $matrix " == *" $install_suite "* ]]; then
    start=$SECONDS binds=() overlay=$work/overlay-$install_suite
    apt_pip() { in_root "$cache/roots/$install_suite" env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-pip; }
    if ! { in_root "$cache/roots/$install_suite" dpkg --purge python3-onnxruntime &&
        { apt_pip || { in_root "$cache/roots/$install_suite" apt-get update && apt_pip; }; }; } >"$work/overlay.log" 2>&1; then
        echo "qgis-matrix: FAIL: QGIS ${expected_qgis[$install_suite]} ($install_suite): removing onnxruntime or" \
            "installing python3-pip in the overlay failed: $(tail -1 "$work/overlay.log")" >&2
        status=1
    else
        if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
            binds=(/etc/ssl/certs "$inside/host-certs" ro) check_env=(PIP_CERT="$inside/host-certs/ca-certificates.crt")
        fi
        if check_root "$install_suite" "$install_suite-install" --onnxruntime-install; then
            say "root $install_suite without onnxruntime, the dock's install: $((SECONDS - start)) s"
        else
            status=1
        fi
    fi
    overlay= check_env=()
fi
[ "$status" = 0 ] && say "all passed ($matrix)"
exit "$status"
