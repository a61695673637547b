#!/bin/bash
# The README's "main job" command: install, build, then in a throwaway
# sandbox (private mount namespace with its own /run, a pod cgroup) start
# delegate-broker with the example policy and let an unprivileged "pod"
# process ask it for privileged steps, showing what was delegated.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
exec unshare --mount --propagation private bash tools/demo-sandbox.sh
