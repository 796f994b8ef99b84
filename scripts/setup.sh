#!/usr/bin/env bash
# Installs what Gantry's tests need on a fresh Debian machine and is a no-op
# where it is all present: Debian's AWS CLI (/usr/bin/aws, used by the
# end-to-end scripts beside any other `aws` on PATH), busybox-static (for the
# test images), and the Go tools of `make lint`.
set -euo pipefail
need=()
[ -x /usr/bin/aws ] || need+=(awscli)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "setup: need Debian packages ${need[*]}; run as root or install them" >&2
		exit 1
	fi
	echo "setup: installing ${need[*]}"
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
