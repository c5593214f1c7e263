#!/usr/bin/env bash
# Login timing (docs/SECURITY.md "Login timing"): a wrong password for an existing user against
# an unknown user name, interleaved, same body shape, against a running issuer with open
# registration; prints the median and mean of each and the ratio of the medians.
#
#   scripts/login-timing.sh http://127.0.0.1:8080 [N]
set -euo pipefail
base=$1
n=${2:-40}
curl -s -o /dev/null -X POST "$base/v1/users" -H 'content-type: application/json' \
  -d '{"username":"timing-user","password":"correct horse"}'
attempt() {
  curl -s -o /dev/null -w '%{time_total}\n' -X POST "$base/v1/login" \
    -H 'content-type: application/json' -d "$1"
}
for _ in $(seq "$n"); do
  echo "known $(attempt '{"username":"timing-user","password":"wrong password!"}')"
  echo "unknown $(attempt '{"username":"timing-nobody","password":"wrong password!"}')"
done | python3 -c "$(cat <<'PY'
import statistics as st
import sys

times = {}
for line in sys.stdin:
    kind, secs = line.split()
    times.setdefault(kind, []).append(1000 * float(secs))
for kind, xs in sorted(times.items()):
    print(f"{kind}: n={len(xs)} median {st.median(xs):.1f} ms, mean {st.mean(xs):.1f} ms")
ratio = st.median(times["unknown"]) / st.median(times["known"])
print(f"unknown / known (medians): {ratio:.2f}")
PY
)"
