#!/usr/bin/env bash
# `make test`: every tier, in two stages.
#   1. The VM tier (netem, in the testbed VM) beside the unit and host tiers here. One after
#      the other they left a core idle most of the time: the VM tier's emulated CPU keeps
#      about one core busy while the host tier mostly waits on real-time phases, and every
#      test holds with one core busy (docs/tests.md).
#   2. The host tests that run whole scenarios in the VM (marked scenarios_in_vm): two
#      emulated VMs at once would each have less than the core their figures assume.
# The VM tier's output is kept in a file and printed whole when stage 1 ends (two progress
# lines interleaved could not be read). Fails when any part fails; pytest's exit code 5 (no
# test collected) is reported, not failed on. Ctrl-C or SIGTERM stops everything (the VM
# tier's `testbed vm run` stops its VM on either).
#   sudo scripts/test-tiers.sh [PYTEST-ARGS for every part, e.g. -x]
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp /tmp/testbed-vm-tier.XXXXXX.log)
vm=
stop() {
  [ -n "$vm" ] && kill -TERM "$vm" 2>/dev/null && wait "$vm"
  rm -f "$log"
  exit 130
}
trap stop INT TERM

echo "stage 1: the VM tier in the testbed VM, beside the unit and host tiers here"
echo "(the VM tier's output goes to $log, printed when stage 1 ends)"
.venv/bin/testbed vm run -- python3 -m pytest -m vm tests/vm --color=no -p no:cacheprovider "$@" \
  > "$log" 2>&1 &
vm=$!
.venv/bin/python -m pytest -m "not vm and not scenarios_in_vm" "$@"
host=$?
wait "$vm"
vm_rc=$?
vm=
echo
echo "==================== the VM tier (testbed vm run -- pytest -m vm tests/vm) ===================="
cat "$log"
rm -f "$log"

echo
echo "stage 2: host tests that run scenarios in the testbed VM"
.venv/bin/python -m pytest -m "scenarios_in_vm" "$@"
scenarios=$?
trap - INT TERM

failed=0
verdict() {  # what, pytest's exit code
  if [ "$2" -eq 5 ]; then echo "$1: pytest collected no tests"; return; fi
  if [ "$2" -eq 0 ]; then echo "$1: passed"; else echo "$1: FAILED (pytest exit $2)"; failed=1; fi
}
echo
verdict "unit and host tiers" "$host"
verdict "VM tier" "$vm_rc"
verdict "host tests of scenarios in the VM" "$scenarios"
exit "$failed"
