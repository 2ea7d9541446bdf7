#!/usr/bin/env bash
# Fuzzes every parser for a while each: `test/fuzz.sh 20s` (make fuzz).
# Go runs one fuzz target per invocation, so the targets are found and run in
# turn. Crashers land in the package's testdata/fuzz/ and should be committed.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-20s}
fail=0
while IFS=: read -r file _ rest; do
  pkg=$(dirname "$file")
  name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$rest")
  echo "== $pkg $name ($time)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" "$pkg" || fail=1
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v node_modules | sort)
exit $fail
