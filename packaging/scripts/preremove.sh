#!/bin/sh
# llm-router preremove (deb prerm / rpm %preun).
# deb: $1 = remove|upgrade|deconfigure|failed-upgrade; rpm: $1 = 0 (erase) | 1+ (upgrade).
# On a real removal stop and disable the service; on an upgrade keep it running
# (postinstall restarts it with the new binary).
set -e

case "$1" in
remove | deconfigure | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now llm-router.service >/dev/null 2>&1 || true
	else
		# No systemd: still drop the enablement symlink, if any.
		rm -f /etc/systemd/system/multi-user.target.wants/llm-router.service
	fi
	;;
esac
exit 0
