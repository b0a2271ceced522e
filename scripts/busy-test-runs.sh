#!/usr/bin/env bash
# Run the host and VM tiers N times in a row with one CPU core kept busy by another process
# (a Python busy loop), as a loaded CI machine or laptop would be; print each run's result
# and duration. The robustness claim in docs/tests.md comes from this. The unit tier is
# left out: it measures no time and sends no packet.
#   sudo scripts/busy-test-runs.sh [N]     (default 5; the VM image must be built)
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
python3 -c 'while True: pass' &  # one core's worth of load, for the whole series
busy=$!
trap 'kill $busy 2>/dev/null' EXIT
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  .venv/bin/python -m pytest -m "not vm" -q -p no:cacheprovider tests/host examples > "/tmp/busy-host-$i.log" 2>&1
  host=$?
  mid=$(date +%s)
  .venv/bin/testbed vm run -- python3 -m pytest -m vm tests/vm -q --color=no -p no:cacheprovider \
    > "/tmp/busy-vm-$i.log" 2>&1
  vm=$?
  end=$(date +%s)
  echo "run $i: host tier exit $host ($(tail -1 "/tmp/busy-host-$i.log")) in $((mid - start)) s;" \
       "VM tier exit $vm ($(grep -E 'passed|failed' "/tmp/busy-vm-$i.log" | tail -1)) in $((end - mid)) s"
done
