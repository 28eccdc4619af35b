#!/bin/sh
# llm-router postremove (deb postrm / rpm %postun).
# deb: $1 = remove|purge|upgrade|failed-upgrade|abort-install|abort-upgrade|disappear;
# rpm: $1 = 0 (erase) | 1+ (upgrade).
# remove keeps /etc/llm-router (conffiles) and /var/lib/llm-router (certificates);
# purge (deb only: rpm has no purge) deletes both. The llm-router user and group
# are kept, as Debian policy advises, so that a reinstall reuses the same ids
# and no stray file ends up owned by a recycled id.
set -e

case "$1" in
purge)
	rm -rf /etc/llm-router /var/lib/llm-router /run/llm-router
	;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
