#!/bin/sh
# llm-router preinstall (deb preinst / rpm %pre).
# deb: $1 = install|upgrade|abort-upgrade [old-version]; rpm: $1 = 1 (install) | 2+ (upgrade).
# Creates the system group and user before the files owned by them are unpacked.
set -e

case "$1" in
install | upgrade | [0-9]*)
	if ! getent group llm-router >/dev/null 2>&1; then
		groupadd --system llm-router
	fi
	if ! getent passwd llm-router >/dev/null 2>&1; then
		nologin=/usr/sbin/nologin
		[ -x "$nologin" ] || nologin=/sbin/nologin
		useradd --system --gid llm-router --no-create-home \
			--home-dir /var/lib/llm-router --shell "$nologin" \
			--comment "LLM Router gateway" llm-router
	fi
	;;
esac
exit 0
