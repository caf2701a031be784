#!/usr/bin/env bash
# Check a compliance report's HTML page in a real headless browser (Debian's chromium).
#
# Usage:
#   scripts/check_report_html.sh REPORT.html [SCREENSHOT.png] [-- report_dom_check options]
#
#   e.g. steward report --from 2026-07-01 --to 2026-09-30 --out q3.html
#        scripts/check_report_html.sh q3.html /tmp/q3.png -- --model fraud-detector
#
# What it does:
#   1. renders the page in headless Chromium and saves a 1280x2000 screenshot
#      (default: REPORT.png next to the report) for a person to look at;
#   2. dumps the DOM Chromium built (--dump-dom) and checks it with
#      scripts/report_dom_check.py: a title, one h1, the totals cards, one section per model
#      with its Owner/Guardian/Operator, a serving timeline, the serving and events tables,
#      and that the page is self-contained (no <script>, nothing loaded from http(s) or any
#      other URL: src/href of link/script/img/..., CSS url()/@import);
#   3. Chromium runs with networking pointed nowhere (--host-resolver-rules), so a page that
#      needed the network would also show it in the screenshot.
# Options after "--" go to report_dom_check.py (--model NAME, repeatable; --empty).
#
# Needs: chromium (apt-get install -y chromium) and a Python 3 (the project's .venv if present).
# Exit status: 0 all checks pass, 1 a check failed, 2 usage or missing tool.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 2
fi
report="$1"
shift
shot=""
if [[ $# -gt 0 && "$1" != "--" ]]; then
    shot="$1"
    shift
fi
if [[ $# -gt 0 && "$1" == "--" ]]; then
    shift
fi
if [[ ! -f "$report" ]]; then
    echo "check_report_html: no such file: $report (expected the HTML that 'steward report' wrote)" >&2
    exit 2
fi
browser="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [[ -z "$browser" || ! -x "$browser" ]]; then
    echo "check_report_html: chromium not found (got '${browser}'); install it with 'apt-get install -y chromium' or set CHROMIUM to its path" >&2
    exit 2
fi
python="$repo/.venv/bin/python"
[[ -x "$python" ]] || python="$(command -v python3)"

report_abs="$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"
shot="${shot:-${report_abs%.*}.png}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

run_chromium() {
    # its own throw-away profile each time; no network, no background services
    timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-extensions --mute-audio --hide-scrollbars \
        --host-resolver-rules='MAP * ~NOTFOUND' \
        --user-data-dir="$(mktemp -d "$work/profile.XXXX")" "$@" "file://$report_abs"
}

rm -f "$shot"
if ! run_chromium --screenshot="$shot" --window-size=1280,2000 >"$work/shot.log" 2>&1 || [[ ! -s "$shot" ]]; then
    echo "FAIL chromium could not screenshot $report_abs:" >&2
    tail -5 "$work/shot.log" >&2
    exit 1
fi
if [[ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]]; then
    echo "FAIL $shot is not a PNG" >&2
    exit 1
fi
echo "screenshot $shot ($(wc -c <"$shot") bytes)"

if ! run_chromium --dump-dom >"$work/dom.html" 2>"$work/dom.log" || [[ ! -s "$work/dom.html" ]]; then
    echo "FAIL chromium could not dump the DOM of $report_abs:" >&2
    tail -5 "$work/dom.log" >&2
    exit 1
fi
"$python" "$here/report_dom_check.py" "$work/dom.html" "$@"
