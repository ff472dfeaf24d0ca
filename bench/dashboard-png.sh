#!/usr/bin/env bash
# Regenerates docs/dashboard.png, the screenshot README.md shows, from the dashboard's
# end-to-end test (internal/web/e2e_test.go, TestDashboardInChromium): a built warden with a
# zone, a forwarder (knotd), two RPZ sets (one of them tripped by the circuit breaker, so its
# Resume button shows) and the query log, under a bounded load of queries, loaded in headless
# Chromium at 1400×1800. The test's checks run as always; the screenshot is kept only when it
# passes.
#
# Usage (from the repository root): bench/dashboard-png.sh
# Needs: Go, knotd, chromium (Debian packages knot, chromium).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v chromium >/dev/null || { echo "dashboard-png: chromium is not installed (apt-get install chromium)" >&2; exit 1; }
out="$PWD/docs/dashboard.png"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
WARDEN_DASHBOARD_PNG="$tmp" go test -count=1 -run '^TestDashboardInChromium$' -v ./internal/web/ | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|screenshot'
chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "dashboard-png: wrote $out"
