#!/usr/bin/env bash
# guest.sh DEB DEB_UPGRADE VERSION VERSION_UPGRADE [CHECK_BINARY_VERSION=1]
#
# Runs INSIDE the booted Debian guest (systemd as PID 1), entered with nsenter
# by packaging/test.sh. Prints one line per assertion, "PASS: ..." or
# "FAIL: ...", which test.sh counts; never stops at the first failure.
set -uo pipefail

DEB=$1 DEB2=$2 VERSION=$3 VERSION2=$4 CHECK_BINARY_VERSION=${5:-1}
UNIT=llm-router.service
PING=http://127.0.0.1:8080/api/ping

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; }
# check DESC CMD...: PASS when CMD succeeds.
check() {
	local d=$1
	shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
info() { echo "INFO: $*"; }

mainpid() { systemctl show -p MainPID --value "$UNIT"; }
ping_ok() { curl -fsS --max-time 5 "$PING" 2>/dev/null | grep -q '"pong"'; }
# wait_for DESC SECONDS CMD...: poll CMD until it succeeds or time runs out.
wait_for() {
	local d=$1 t=$2 end
	shift 2
	end=$((SECONDS + t))
	while ((SECONDS < end)); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
# procs named llm-router still alive (any user)
router_procs() {
	local p n=0
	for p in /proc/[0-9]*; do
		[[ $(cat "$p/comm" 2>/dev/null) == llm-router ]] && n=$((n + 1))
	done
	echo $n
}
status_field() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }
port_closed() { ! curl -s --max-time 2 -o /dev/null "$PING"; }

echo "== install ($DEB)"
check "dpkg -i succeeds" dpkg -i "$DEB"
check "package is installed at $VERSION" \
	bash -c "dpkg-query -W -f='\${Status} \${Version}' llm-router | grep -qx 'install ok installed $VERSION-1'"

uid=$(id -u llm-router 2>/dev/null || echo none)
check "system user llm-router exists (uid $uid < 1000)" bash -c "[[ $uid =~ ^[0-9]+\$ ]] && (( $uid < 1000 && $uid > 0 ))"
check "system group llm-router exists" getent group llm-router
check "user home is /var/lib/llm-router, shell nologin" \
	bash -c "getent passwd llm-router | awk -F: '\$6==\"/var/lib/llm-router\" && \$7 ~ /nologin\$/' | grep -q ."
check "state dir /var/lib/llm-router is llm-router:llm-router 0750" \
	bash -c "[[ \$(stat -c '%U:%G %a' /var/lib/llm-router) == 'llm-router:llm-router 750' ]]"
check "env file is root:llm-router 0640" \
	bash -c "[[ \$(stat -c '%U:%G %a' /etc/llm-router/llm-router.env) == 'root:llm-router 640' ]]"
check "prompt library installed" bash -c "ls /usr/share/llm-router/prompts/*/ >/dev/null && find /usr/share/llm-router/prompts -name '*.prompt' | grep -q ."

echo "== service after install"
check "unit is enabled" bash -c "[[ \$(systemctl is-enabled $UNIT) == enabled ]]"
check "unit is active" systemctl is-active -q "$UNIT"
check "Type=notify" bash -c "[[ \$(systemctl show -p Type --value $UNIT) == notify ]]"
check "GET /api/ping on :8080 answers pong" ping_ok
info "ping: $(curl -sS --max-time 5 "$PING" 2>&1 | head -c 300)"

pid=$(mainpid)
info "MainPID $pid"
if [[ $pid =~ ^[1-9][0-9]*$ ]]; then
	check "process runs as llm-router (real/effective/saved uid $uid)" \
		bash -c "[[ \$(awk '\$1==\"Uid:\"{print \$2,\$3,\$4}' /proc/$pid/status) == '$uid $uid $uid' ]]"
	check "NoNewPrivs: 1" bash -c "[[ \$(awk '\$1==\"NoNewPrivs:\"{print \$2}' /proc/$pid/status) == 1 ]]"
	check "Seccomp: 2 (filter)" bash -c "[[ \$(awk '\$1==\"Seccomp:\"{print \$2}' /proc/$pid/status) == 2 ]]"
	# CAP_NET_BIND_SERVICE is bit 10 = 0x400, and nothing else.
	for c in CapEff CapPrm CapBnd CapAmb; do
		check "$c is exactly CAP_NET_BIND_SERVICE" \
			bash -c "[[ \$(awk '\$1==\"$c:\"{print \$2}' /proc/$pid/status) == 0000000000000400 ]]"
	done
	# LimitNOFILE=1048576, clamped to the hard limit the container itself got
	# (systemd cannot raise it without CAP_SYS_RESOURCE on the host).
	lim_svc=$(awk '/^Max open files/{print $4, $5}' "/proc/$pid/limits")
	lim_max=$(awk '/^Max open files/{print $5}' /proc/1/limits)
	((lim_max > 1048576)) && lim_max=1048576
	info "service open files limit: $lim_svc (container hard limit $(awk '/^Max open files/{print $5}' /proc/1/limits))"
	check "LimitNOFILE: soft = hard = min(1048576, container limit) = $lim_max" test "$lim_svc" = "$lim_max $lim_max"
	# Look at the file system through the service's own mount namespace.
	check "ProtectSystem=strict: /usr and /etc read-only for the service" \
		bash -c "! nsenter -t $pid -m -- touch /usr/.probe 2>/dev/null && ! nsenter -t $pid -m -- touch /etc/llm-router/.probe 2>/dev/null"
	check "ReadWritePaths: /var/lib/llm-router writable in the service namespace" \
		bash -c "nsenter -t $pid -m -- touch /var/lib/llm-router/.probe && rm -f /var/lib/llm-router/.probe"
	check "ProtectHome: /root and /home empty/inaccessible" \
		bash -c "touch /root/.probe-home; ! nsenter -t $pid -m -- test -e /root/.probe-home; rc=\$?; rm -f /root/.probe-home; exit \$rc"
	check "PrivateTmp: guest /tmp invisible to the service" \
		bash -c "touch /tmp/.probe-tmp; ! nsenter -t $pid -m -- test -e /tmp/.probe-tmp; rc=\$?; rm -f /tmp/.probe-tmp; exit \$rc"
	check "PrivateDevices: the service's /dev lacks /dev/console" \
		bash -c "test -e /dev/console && ! nsenter -t $pid -m -- test -e /dev/console"
	check "Caddy storage and autosave in the state dir, owned by llm-router" \
		bash -c "f=/var/lib/llm-router/config/caddy/autosave.json; [[ -s \$f && \$(stat -c %U \$f) == llm-router ]]"
else
	fail "no MainPID; skipping process checks"
fi

echo "== systemd-analyze"
out=$(systemd-analyze verify "$UNIT" 2>&1)
if [[ -z $out ]]; then pass "systemd-analyze verify prints nothing"; else fail "systemd-analyze verify: $out"; fi
sec=$(systemd-analyze security "$UNIT" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
info "systemd-analyze security: exposure $sec"
check "systemd-analyze security exposure $sec <= 3.0" \
	bash -c "[[ '$sec' =~ ^[0-9]+\.[0-9]+\$ ]] && awk -v s='$sec' 'BEGIN{exit !(s+0 <= 3.0)}'"

echo "== reload (graceful, same process, new config)"
cp /etc/llm-router/Caddyfile /root/Caddyfile.orig
# Packaged config + a plain-HTTP site on :8081 + an HTTPS site on :443 with a
# certificate from Caddy's internal CA (stored in the state dir; binding :443
# needs CAP_NET_BIND_SERVICE). The trust store is read-only by design.
{
	awk '{print} /^[[:space:]]*admin[[:space:]]/ && !done {print "\tskip_install_trust"; done=1}' /root/Caddyfile.orig
	cat <<'EOF'

:8081 {
	respond "reloaded-1"
}

https://localhost {
	tls internal
	respond "tls-ok"
}
EOF
} >/etc/llm-router/Caddyfile
pid=$(mainpid)
check "systemctl reload succeeds" systemctl reload "$UNIT"
check "reload kept the MainPID ($pid)" bash -c "[[ \$(systemctl show -p MainPID --value $UNIT) == $pid ]]"
check "reloaded config serves :8081" bash -c "curl -fsS --max-time 5 http://127.0.0.1:8081/ | grep -qx reloaded-1"
check "ping still answers after reload" ping_ok
check "HTTPS on :443 with an internal-CA certificate" \
	wait_for https 15 bash -c "curl -fsSk --max-time 5 --resolve localhost:443:127.0.0.1 https://localhost/ 2>/dev/null | grep -qx tls-ok"
check "certificate stored under /var/lib/llm-router/caddy, owned by llm-router" \
	bash -c "f=\$(find /var/lib/llm-router/caddy/certificates -name 'localhost.crt' | head -1); [[ -n \$f && \$(stat -c %U \$f) == llm-router ]]"

cp /etc/llm-router/Caddyfile /root/Caddyfile.good
printf ':8080 {\n\tnot_a_directive\n}\n' >>/etc/llm-router/Caddyfile
check "reload of a broken Caddyfile fails" bash -c "! systemctl reload $UNIT 2>/dev/null"
check "service still active with the same MainPID after the failed reload" \
	bash -c "systemctl is-active -q $UNIT && [[ \$(systemctl show -p MainPID --value $UNIT) == $pid ]]"
check "old config still serving after the failed reload" bash -c "curl -fsS --max-time 5 http://127.0.0.1:8081/ | grep -qx reloaded-1"
cp /root/Caddyfile.good /etc/llm-router/Caddyfile

echo "== reload applies a changed models-config (the Caddyfile unchanged)"
cp /etc/llm-router/models-config.json /root/models-config.orig
sed 's/"llama3.2"/"reload-check"/g' /root/models-config.orig >/etc/llm-router/models-config.json
check "systemctl reload with a changed models-config succeeds" systemctl reload "$UNIT"
check "the new model is served after the reload" \
	bash -c "curl -fsS --max-time 5 http://127.0.0.1:8080/v1/models | grep -q '\"reload-check\"'"
printf '{"g": {"m": {"providers": [{"id": "p", "api_type": "openai"}]}}, "active_models": {"g": ["m"]}}\n' >/etc/llm-router/models-config.json
check "reload of an invalid models-config fails, naming the field on one line" \
	bash -c "! llm-router reload --config /etc/llm-router/Caddyfile --adapter caddyfile 2>/root/reload.err && head -1 /root/reload.err | grep -q 'models-config.json:1: model \"m\": provider \"p\": field \"api_host\": is required'"
info "reload refusal: $(head -c 300 /root/reload.err)"
check "old models still served after the refused reload" \
	bash -c "curl -fsS --max-time 5 http://127.0.0.1:8080/v1/models | grep -q '\"reload-check\"'"
cp /root/models-config.orig /etc/llm-router/models-config.json
chgrp llm-router /etc/llm-router/models-config.json
systemctl reload "$UNIT"

echo "== keys created as root are readable by the service"
check "/etc/llm-router is root:llm-router" bash -c "[[ \$(stat -c %U:%G /etc/llm-router) == root:llm-router ]]"
key=$(llm-router keys create --name ci --keys-file /etc/llm-router/keys.json 2>/root/keys.err)
info "keys create: $(cat /root/keys.err)"
check "keys.json is root:llm-router 0640" bash -c "[[ \$(stat -c %U:%G:%a /etc/llm-router/keys.json) == root:llm-router:640 ]]"
echo LLM_ROUTER_AUTH_ENABLED=true >>/etc/llm-router/llm-router.env
check "service restarts with auth on" bash -c "systemctl restart $UNIT && systemctl is-active -q $UNIT"
check "the key works, no key is refused" bash -c "curl -fsS --max-time 5 -H 'Authorization: Bearer $key' http://127.0.0.1:8080/v1/models | grep -q llama3.2 &&
	[[ \$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:8080/v1/models) == 401 ]]"
chmod 0600 /etc/llm-router/keys.json
check "keys create refuses to leave a keys file the service cannot read, saying how to fix it" \
	bash -c "! llm-router keys create --name ci2 --keys-file /etc/llm-router/keys.json 2>/root/keys2.err >/dev/null && grep -q 'chgrp llm-router /etc/llm-router/keys.json' /root/keys2.err"
chmod 0640 /etc/llm-router/keys.json
sed -i '/^LLM_ROUTER_AUTH_ENABLED=true$/d' /etc/llm-router/llm-router.env
systemctl restart "$UNIT"
check "log directory /var/log/llm-router is the service's" bash -c "[[ \$(stat -c %U /var/log/llm-router) == llm-router ]]"

echo "== restart"
t0=$(date +%s%N)
check "systemctl restart succeeds" systemctl restart "$UNIT"
# No retry loop on purpose: Type=notify means restart returns only once Caddy
# is listening.
check "ping answers right after restart returns (ready = listening)" ping_ok
info "restart took $((($(date +%s%N) - t0) / 1000000)) ms"
check "restart gave a new MainPID" bash -c "p=\$(systemctl show -p MainPID --value $UNIT); [[ \$p != 0 && \$p != $pid ]]"
check "NRestarts=0 (no crash loop)" bash -c "[[ \$(systemctl show -p NRestarts --value $UNIT) == 0 ]]"

echo "== stop/start"
check "systemctl stop succeeds" systemctl stop "$UNIT"
check "stopped: inactive and :8080 closed" bash -c "! systemctl is-active -q $UNIT && ! curl -s --max-time 2 -o /dev/null $PING"
check "systemctl start succeeds and serves" bash -c "systemctl start $UNIT && curl -fsS --max-time 5 $PING | grep -q pong"

echo "== upgrade to $VERSION2 keeps a locally modified conffile"
echo "# local edit $$" >>/etc/llm-router/Caddyfile
sum=$(sha256sum </etc/llm-router/Caddyfile)
pid=$(mainpid)
check "dpkg -i (upgrade, --force-confold) succeeds" dpkg -i --force-confold "$DEB2"
check "installed version is $VERSION2" \
	bash -c "dpkg-query -W -f='\${Version}' llm-router | grep -qx '$VERSION2-1'"
check "modified Caddyfile kept byte for byte" bash -c "[[ \$(sha256sum </etc/llm-router/Caddyfile) == '$sum' ]]"
check "upgrade restarted the service on the new binary" \
	bash -c "p=\$(systemctl show -p MainPID --value $UNIT); [[ \$p != 0 && \$p != $pid ]] && systemctl is-active -q $UNIT"
if [[ $CHECK_BINARY_VERSION == 1 ]]; then
	check "binary reports $VERSION2" bash -c "/usr/bin/llm-router version | head -1 | grep -qx 'llm-router $VERSION2'"
fi
check "service still enabled after upgrade" bash -c "[[ \$(systemctl is-enabled $UNIT) == enabled ]]"
check "ping after upgrade" ping_ok

echo "== rpm scriptlets, run with rpm's arguments (1 = install, 2 = upgrade, 0 = erase)"
# The .rpm's own scriptlets (extracted by test.sh), on the files dpkg laid out:
# no RHEL/Fedora root is available on this machine, so this is how the rpm
# calling convention meets a real systemd.
S=/mnt/ci/rpm-scripts
pid=$(mainpid)
check "%preun 1 (upgrade) keeps the service running" \
	bash -c "sh $S/preremove 1 && systemctl is-active -q $UNIT && [[ \$(systemctl show -p MainPID --value $UNIT) == $pid ]]"
check "%postun 1 (upgrade) keeps it running and /etc/llm-router" \
	bash -c "sh $S/postremove 1 && systemctl is-active -q $UNIT && test -f /etc/llm-router/Caddyfile"
check "%post 2 (upgrade) restarts it" \
	bash -c "sh $S/postinstall 2 && p=\$(systemctl show -p MainPID --value $UNIT) && [[ \$p != 0 && \$p != $pid ]] && systemctl is-active -q $UNIT"
check "%preun 0 (erase) stops and disables it" \
	bash -c "sh $S/preremove 0 && ! systemctl is-active -q $UNIT && [[ \$(systemctl is-enabled $UNIT 2>/dev/null) == disabled ]]"
check "%postun 0 (erase) keeps /etc/llm-router (rpm has no purge)" \
	bash -c "sh $S/postremove 0 && test -f /etc/llm-router/Caddyfile && test -d /var/lib/llm-router"
old_uid=$(id -u llm-router)
userdel llm-router 2>/dev/null
getent group llm-router >/dev/null && groupdel llm-router 2>/dev/null
check "%pre 1 (install) creates the missing system user and group" \
	bash -c "! getent passwd llm-router >/dev/null && sh $S/preinstall 1 && getent passwd llm-router >/dev/null && getent group llm-router >/dev/null && (( \$(id -u llm-router) < 1000 ))"
info "user recreated with uid $(id -u llm-router 2>/dev/null) (was $old_uid)"
# Files dpkg unpacked still carry the old ids; line them up as a fresh install would have.
chown -R llm-router:llm-router /var/lib/llm-router
chgrp llm-router /etc/llm-router/llm-router.env /etc/llm-router/models-config.json
check "%post 1 (install) enables and starts it" \
	bash -c "sh $S/postinstall 1 && [[ \$(systemctl is-enabled $UNIT) == enabled ]] && systemctl is-active -q $UNIT"
check "ping after the rpm-convention cycle" ping_ok

echo "== remove"
check "dpkg -r succeeds" dpkg -r llm-router
check "service stopped" bash -c "! systemctl is-active -q $UNIT"
n=$(router_procs)
check "no llm-router process left ($n)" test "$n" -eq 0
check "port 8080 closed" port_closed
check "binary and unit removed" bash -c "[[ ! -e /usr/bin/llm-router && ! -e /usr/lib/systemd/system/$UNIT ]]"
check "no enablement symlink left" bash -c "[[ ! -e /etc/systemd/system/multi-user.target.wants/$UNIT ]]"
check "/etc/llm-router kept, with the local edit" bash -c "[[ \$(sha256sum </etc/llm-router/Caddyfile) == '$sum' && -f /etc/llm-router/models-config.json && -f /etc/llm-router/llm-router.env ]]"
check "state dir kept on remove" test -d /var/lib/llm-router
check "dpkg status is config-files" \
	bash -c "dpkg-query -W -f='\${Status}' llm-router | grep -qx 'deinstall ok config-files'"

echo "== purge"
check "dpkg -P succeeds" dpkg -P llm-router
check "/etc/llm-router removed" test ! -e /etc/llm-router
check "/var/lib/llm-router removed" test ! -e /var/lib/llm-router
check "package unknown to dpkg" bash -c "! dpkg-query -W -f='\${Status}' llm-router 2>/dev/null | grep -q installed"
