#!/bin/sh
# llm-router postinstall (deb postinst / rpm %post).
# deb: $1 = configure [old-version] (old-version empty on a first install);
# rpm: $1 = 1 (first install) | 2+ (upgrade).
set -e

first_install=
case "$1" in
configure) [ -z "$2" ] && first_install=1 ;;
1) first_install=1 ;;
[0-9]*) ;;
*) exit 0 ;; # abort-upgrade, abort-remove, ...: nothing to do
esac

# State directory (certificates, ACME account, autosave) owned by the service
# user. The unit's StateDirectory= would create it too; doing it here makes the
# ownership right before the first start and without systemd.
install -d -m 0750 -o llm-router -g llm-router /var/lib/llm-router

# Only systemd as PID 1 (sd_booted): not in chroots, containers without
# systemd, or image builds.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if [ -n "$first_install" ]; then
		systemctl enable llm-router.service >/dev/null 2>&1 || true
		# A start failure (say, port 8080 taken) must not fail the
		# installation; `systemctl status llm-router` tells why.
		systemctl start llm-router.service || true
	else
		# Upgrade: run the new binary if the service was running.
		systemctl try-restart llm-router.service || true
	fi
fi
exit 0
