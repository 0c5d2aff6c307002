#!/usr/bin/env bash
# Run a command with the network switched off: a fresh network namespace in which only loopback is
# up (Jupyter kernels talk to papermill over loopback). Where namespaces are not allowed, say so and
# run the command as it is; the offline variables set by the Makefile still keep the hub away.
set -euo pipefail
if unshare --net true 2>/dev/null; then
  exec unshare --net bash -c 'ip link set lo up && MI_NETWORK_ISOLATED=1 exec "$@"' run_offline "$@"
fi
echo "run_offline: cannot create a network namespace here; running with the offline variables only" >&2
exec "$@"
