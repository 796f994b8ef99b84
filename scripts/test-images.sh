#!/usr/bin/env bash
# Builds the images Gantry's tests and README tour run, from files already on
# this machine: no image is ever pulled. Today there is one,
# gantry-test/busybox:latest, made with `docker import` of a tar holding
# Debian's busybox-static binary (installed by scripts/setup.sh), symlinks for
# the applets the tests use, a tiny /etc/passwd and /tmp, and CMD ["sh"].
#
# Idempotent: the image carries the checksum of the busybox it was built from
# in the label com.gantry.busybox-sha256, and is rebuilt only when that
# changes. Safe to run concurrently (the test packages all call it).
set -euo pipefail

IMAGE=${GANTRY_TEST_IMAGE:-gantry-test/busybox:latest}
BUSYBOX=${BUSYBOX:-/bin/busybox}
APPLETS="sh httpd sleep nc wget cat echo true false kill ls env dd head \
	mkdir rm touch id hostname ps grep cut stat printf test"

if [ ! -x "$BUSYBOX" ]; then
	echo "test-images: $BUSYBOX is missing: run scripts/setup.sh (installs busybox-static)" >&2
	exit 1
fi
if ! docker version >/dev/null 2>&1; then
	echo "test-images: the Docker daemon is not reachable" >&2
	exit 1
fi

lockdir=${TMPDIR:-/tmp}
exec 9>"$lockdir/gantry-test-images.lock"
flock 9

sum=$(sha256sum "$BUSYBOX" | cut -c1-64)
have=$(docker image inspect --format '{{ index .Config.Labels "com.gantry.busybox-sha256" }}' "$IMAGE" 2>/dev/null || true)
if [ "$have" = "$sum" ]; then
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/var/www" "$root/root"
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
for a in $APPLETS; do
	ln -s busybox "$root/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf 'hello from gantry\n' >"$root/var/www/index.html"
tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$tmp/image.tar" .

docker import \
	--change 'CMD ["sh"]' \
	--change 'ENV PATH=/bin' \
	--change "LABEL com.gantry.busybox-sha256=$sum" \
	--message "gantry test image from $BUSYBOX" \
	"$tmp/image.tar" "$IMAGE" >/dev/null
echo "test-images: built $IMAGE"
