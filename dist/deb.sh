#!/usr/bin/env bash
# Builds the Debian package of Warden from this checkout: the binary (with its commit recorded,
# -buildvcs=true, which `warden --version` prints), the systemd unit, the starting configuration
# as a conffile (/etc/warden/warden.yaml), the manual pages when dist/man.sh is there, and the
# scripts that make the system user warden and, on purge, remove its data.
#
# Usage: dist/deb.sh [OUTDIR]    (default: dist/out; prints the path of the .deb)
# Needs go, git and dpkg-deb (Debian's dpkg); no root: files are owned by root in the archive.
set -euo pipefail

top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-$top/dist/out}" && cd "${1:-$top/dist/out}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/root"

# Debian's name for Go's architecture.
goarch="$(cd "$top" && go env GOARCH)"
case "$goarch" in
amd64 | arm64 | ppc64el | s390x | riscv64) arch="$goarch" ;;
386) arch=i386 ;;
arm) arch=armhf ;;
ppc64le) arch=ppc64el ;;
*) echo "deb.sh: no Debian architecture for GOARCH=$goarch" >&2; exit 1 ;;
esac

# The version: the newest tag when there is one, else 0; then the commit's date and hash, so that
# a later commit makes a newer package.
cd "$top"
tag="$(git describe --tags --abbrev=0 2>/dev/null || true)"
base="${tag#v}"
base="${base:-0}"
stamp="$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S)"
hash="$(git rev-parse --short=12 HEAD)"
version="${base}~git${stamp}.${hash}"

# Go records the commit only in a repository's main working tree, not in a linked worktree (.git
# a file): there the package is built from a clone of HEAD, and uncommitted changes stay out.
if [[ "$(git rev-parse --git-dir)" != "$(git rev-parse --git-common-dir)" ]]; then
	echo "deb.sh: a linked worktree; building commit $hash from a clone (uncommitted changes are not packaged)" >&2
	git clone --quiet --no-checkout "$top" "$work/src"
	git -C "$work/src" checkout --quiet --detach "$(git rev-parse HEAD)"
	cd "$work/src"
fi

install -d "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/warden" \
	"$stage/usr/share/doc/warden" "$stage/DEBIAN"
CGO_ENABLED=0 go build -buildvcs=true -trimpath -o "$stage/usr/bin/warden" ./cmd/warden
install -m 0644 dist/warden.service "$stage/lib/systemd/system/warden.service"
install -m 0644 dist/warden.yaml "$stage/etc/warden/warden.yaml"
# Uncompressed: the unit's Documentation= names it.
install -m 0644 README.md "$stage/usr/share/doc/warden/README.md"
cat >"$stage/usr/share/doc/warden/copyright" <<'TEXT'
Warden, a DNS server in Go. The source is the repository this package was built from.
TEXT

if [[ -f dist/man.sh ]]; then
	sh dist/man.sh "$stage/usr/share/man/man1" "$stage/usr/bin/warden" >&2
	gzip -9n "$stage"/usr/share/man/man1/*.1
fi

cat >"$stage/DEBIAN/control" <<TEXT
Package: warden
Version: $version
Architecture: $arch
Maintainer: Warden developers <warden@localhost>
Section: net
Priority: optional
Installed-Size: $(du -ks "$stage" | cut -f1)
Description: authoritative DNS server, resolver and DNS tampering probe
 Warden serves zones from master files with answers precomputed to wire
 bytes, replicates them (AXFR, IXFR, NOTIFY, TSIG, dynamic update, catalog
 zones), resolves and caches for allowed clients with response policy (RPZ
 and blocklists), and answers over UDP, TCP, TLS, HTTPS and QUIC.
TEXT
echo /etc/warden/warden.yaml >"$stage/DEBIAN/conffiles"

cat >"$stage/DEBIAN/postinst" <<'TEXT'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	# The service's own account, without a shell or a home of its own.
	if ! getent passwd warden >/dev/null; then
		if command -v adduser >/dev/null 2>&1; then
			adduser --system --group --home /var/lib/warden --no-create-home --quiet warden
		else
			useradd --system --user-group --home-dir /var/lib/warden --no-create-home \
				--shell /usr/sbin/nologin warden
		fi
	fi
	# The unit makes it too (StateDirectory=); this is for `warden serve --user warden` by hand.
	install -d -o warden -g warden -m 0750 /var/lib/warden
fi
if [ "$1" = configure ] || [ "$1" = abort-upgrade ]; then
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		deb-systemd-helper unmask warden.service >/dev/null || true
		# was-enabled is true for a unit never seen before: a new install is enabled.
		if deb-systemd-helper --quiet was-enabled warden.service; then
			deb-systemd-helper enable warden.service >/dev/null || true
		else
			deb-systemd-helper update-state warden.service >/dev/null || true
		fi
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		# A server that cannot start (port 53 taken) must not fail the installation.
		if [ -n "$2" ]; then
			deb-systemd-invoke try-restart warden.service || true
		else
			deb-systemd-invoke start warden.service || true
		fi
	fi
fi
exit 0
TEXT

cat >"$stage/DEBIAN/prerm" <<'TEXT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop warden.service >/dev/null || true
fi
exit 0
TEXT

# Remove leaves the data (/var/lib/warden) and the configuration; purge removes both (dpkg the
# conffile, this script the data). The account stays, as Debian does for system users: files
# elsewhere may still be its.
cat >"$stage/DEBIAN/postrm" <<'TEXT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
case "$1" in
remove)
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		deb-systemd-helper mask warden.service >/dev/null || true
	fi
	;;
purge)
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		deb-systemd-helper purge warden.service >/dev/null || true
		deb-systemd-helper unmask warden.service >/dev/null || true
	fi
	rm -rf /var/lib/warden /run/warden
	rmdir /etc/warden 2>/dev/null || true
	;;
esac
exit 0
TEXT
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"

deb="$out/warden_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
