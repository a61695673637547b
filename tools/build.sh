#!/bin/bash
# Configure (once) and build into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
        meson setup build >/dev/null
fi
ninja --quiet -C build  # compiler output (errors, warnings) shows; progress does not
