#!/bin/sh
# Writes the manual pages of warden and of each of its commands (warden.1, warden-serve.1, ...)
# from `warden help --man`, which makes them from the same flag tables as --help.
#
# Usage: dist/man.sh [OUTDIR [WARDEN]]
#   OUTDIR  where the pages go (default: dist/man, made if missing)
#   WARDEN  a built warden binary to ask (default: build one from this checkout)
#
# The list of commands is read from `warden help`, so a new command gets its page here unchanged.
set -eu

out=${1:-dist/man}
warden=${2:-}

if [ -z "$warden" ]; then
	top=$(cd "$(dirname "$0")/.." && pwd)
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# -buildvcs=true: the page's header carries the commit's date, as the binary's version does.
	(cd "$top" && go build -buildvcs=true -o "$tmp/warden" ./cmd/warden)
	warden=$tmp/warden
fi

mkdir -p "$out"
"$warden" help --man >"$out/warden.1"
# The commands are the lines of `warden help` between "Commands:" and the next blank line that
# start with two spaces and a name (continuation lines are indented further).
for cmd in $("$warden" help | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on && /^  [a-z]/ { print $1 }'); do
	"$warden" help --man "$cmd" >"$out/warden-$cmd.1"
done
