#!/usr/bin/env bash
# The installed plugin works from the system plugin directory alone:
# `meson install` into a scratch root, then gst-inspect-1.0 and a pipeline
# with only that directory as GStreamer's plugin path (no GST_PLUGIN_PATH,
# no build tree), the plugin finding the installed libzcap by its rpath.
#   install_test.sh BUILD_DIR PLUGINS_SUBDIR
set -uo pipefail
build=$1
plugins_subdir=$2 # e.g. lib/x86_64-linux-gnu/gstreamer-1.0, below the prefix
zcap=$build/zcap
source "$(dirname "$0")/../cli_lib.sh"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
prefix=$(meson introspect "$build" --buildoptions |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
check "meson install into a scratch root" meson install -C "$build" --destdir "$root" --no-rebuild --quiet
plugins=$root$prefix/$plugins_subdir
check "the plugin is installed in the GStreamer plugin directory" test -f "$plugins/libgstzcap.so"

# Only the installed directory: the build tree is not on any path.
export GST_PLUGIN_SYSTEM_PATH_1_0=$plugins
export GST_REGISTRY_1_0=$root/registry.bin
unset GST_PLUGIN_PATH GST_PLUGIN_PATH_1_0 LD_LIBRARY_PATH
inspect=$(gst-inspect-1.0 zcap 2>&1)
check "gst-inspect-1.0 zcap lists zcapsrc, zcapfilesink and zcaphttpsink" \
	bash -c "grep -q zcapsrc <<<'$inspect' && grep -q zcapfilesink <<<'$inspect' && grep -q zcaphttpsink <<<'$inspect'"
check "the installed plugin uses the installed libzcap" \
	bash -c "ldd '$plugins/libgstzcap.so' | grep -q '$root$prefix/.*libzcap.so'"
out=$root/x.mkv
# coreelements etc. are not in that path: only zcap's own elements.
check "an installed pipeline records" \
	gst-launch-1.0 -q zcapsrc num-buffers=10 is-live=false ! zcapfilesink location="$out"
frames=$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$out" 2>/dev/null)
check "ffprobe counts its 10 frames (got ${frames:-none})" test "${frames:-0}" = 10

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
