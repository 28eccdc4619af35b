#!/usr/bin/env bash
# packaging/build.sh: build the llm-router .deb and .rpm.
#
#   packaging/build.sh            -> dist/llm-router_<version>_amd64.deb
#                                    dist/llm-router-<version>.x86_64.rpm
#
# Plain bash, no binary downloads: the binary comes from `go build ./appliance`
# (static, trimmed, stripped) and nfpm from `go run` of a pinned module version.
#
# Environment (all optional):
#   LLM_ROUTER_VERSION  package version; default from `git describe` (a tag
#                       v1.2.3 or 1.2.3 on HEAD gives 1.2.3), else the VERSION
#                       file at the repository root, else 0.0.0
#
# The binary is stamped with the same version and the commit
# (`llm-router version`, GET {prefix}/version). Cutting a release: see
# "Releases" in packaging/INSTALL.md.
#   SOURCE_DATE_EPOCH   file timestamps; default the last commit's time, else
#                       the VERSION file's mtime, else 0. Same inputs + same
#                       SOURCE_DATE_EPOCH = byte-identical packages.
#   LLM_ROUTER_BIN      package this prebuilt binary instead of building one
#   DIST                output directory (default <repo>/dist)
#   NFPM_VERSION        nfpm module version (default pinned below)
#   FORMATS             "deb rpm" (default) or a subset
set -euo pipefail

NFPM_VERSION=${NFPM_VERSION:-v2.45.2}
NFPM_PKG=github.com/goreleaser/nfpm/v2/cmd/nfpm

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DIST=${DIST:-$ROOT/dist}
FORMATS=${FORMATS:-deb rpm}

log() { printf 'build.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- version -----------------------------------------------------------------
# git tag v1.2.3            -> 1.2.3
# 5 commits after v1.2.3    -> 1.2.3+git5.gabcdef1
# uncommitted changes       -> ...+dirty / .dirty
# no tag yet                -> 0.0.0+git<n>.g<hash>
# Only [0-9A-Za-z.+~] survive: valid for both dpkg and rpm (no '-').
# describe_to_version DESCRIBE: v1.2.3-rc1-5-gabcdef1-dirty -> 1.2.3~rc1+git5.gabcdef1.dirty
# ("~" sorts a pre-release before the release in dpkg and rpm alike).
describe_to_version() {
	local d=${1#v} dirty='' extra=''
	if [[ $d == *-dirty ]]; then
		d=${d%-dirty}
		dirty=1
	fi
	if [[ $d =~ ^(.+)-([0-9]+)-g([0-9a-f]+)$ ]]; then
		d=${BASH_REMATCH[1]}
		extra="+git${BASH_REMATCH[2]}.g${BASH_REMATCH[3]}"
	fi
	d=${d//-/\~}
	if [[ -n $dirty ]]; then
		if [[ -n $extra ]]; then extra+=.dirty; else extra=+dirty; fi
	fi
	printf '%s%s\n' "$d" "$extra"
}

git_version() {
	git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null 2>&1 || return 1
	local d n h
	if d=$(git -C "$ROOT" describe --tags --match 'v[0-9]*' --match '[0-9]*' --dirty 2>/dev/null); then
		describe_to_version "$d"
		return
	else
		n=$(git -C "$ROOT" rev-list --count HEAD)
		h=$(git -C "$ROOT" rev-parse --short=7 HEAD)
		d="0.0.0+git$n.g$h"
		log "warning: no version tag reachable from HEAD (a shallow clone without tags? run 'git fetch --tags'); version $d"
		if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
			d+=.dirty
		fi
	fi
	printf '%s\n' "$d"
}

if [[ -z ${LLM_ROUTER_VERSION:-} ]]; then
	if ! LLM_ROUTER_VERSION=$(git_version); then
		if [[ -s $ROOT/VERSION ]]; then
			LLM_ROUTER_VERSION=$(tr -d ' \t\r\n' <"$ROOT/VERSION")
			LLM_ROUTER_VERSION=${LLM_ROUTER_VERSION#v}
		else
			LLM_ROUTER_VERSION=0.0.0
		fi
	fi
fi
# Sanitise whatever came in: dpkg and rpm both accept [0-9A-Za-z.+~].
LLM_ROUTER_VERSION=$(printf '%s' "$LLM_ROUTER_VERSION" | tr -c '0-9A-Za-z.+~' '.')
[[ $LLM_ROUTER_VERSION =~ ^[0-9] ]] || die "version must start with a digit: $LLM_ROUTER_VERSION"
export LLM_ROUTER_VERSION

if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
	SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || true)
	if [[ -z $SOURCE_DATE_EPOCH && -e $ROOT/VERSION ]]; then
		SOURCE_DATE_EPOCH=$(stat -c %Y "$ROOT/VERSION")
	fi
	SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
fi
export SOURCE_DATE_EPOCH

COMMIT=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
log "version $LLM_ROUTER_VERSION, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
mkdir -p "$DIST"
STAGE=$(mktemp -d "$DIST/.stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

# --- binary --------------------------------------------------------------------
if [[ -n ${LLM_ROUTER_BIN:-} ]]; then
	[[ -x $LLM_ROUTER_BIN ]] || die "LLM_ROUTER_BIN=$LLM_ROUTER_BIN is not an executable"
	cp "$LLM_ROUTER_BIN" "$STAGE/llm-router"
	log "packaging prebuilt $LLM_ROUTER_BIN"
else
	[[ -d $ROOT/appliance ]] || die "no ./appliance package (set LLM_ROUTER_BIN to package a prebuilt binary)"
	log "go build ./appliance"
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -buildvcs=false \
		-tags nobadger,nomysql,nopgx \
		-ldflags "-s -w -buildid= -X github.com/llmrouter/llm-router/caddymodule.Version=$LLM_ROUTER_VERSION -X main.commit=$COMMIT" \
		-o "$STAGE/llm-router" ./appliance
fi
chmod 0755 "$STAGE/llm-router"
export LLM_ROUTER_BIN="$STAGE/llm-router"

# --- prompt library ------------------------------------------------------------
# Staged with normalised modes so the package does not depend on the umask of
# the checkout.
PROMPTS_SRC=$ROOT/resources/prompts
[[ -d $PROMPTS_SRC ]] || die "missing $PROMPTS_SRC"
cp -R "$PROMPTS_SRC" "$STAGE/prompts"
find "$STAGE/prompts" -type d -exec chmod 0755 {} +
find "$STAGE/prompts" -type f -exec chmod 0644 {} +
export LLM_ROUTER_PROMPTS="$STAGE/prompts"

# --- packages --------------------------------------------------------------------
nfpm() { go run "$NFPM_PKG@$NFPM_VERSION" "$@"; }

for f in $FORMATS; do
	case $f in
	deb) out="$DIST/llm-router_${LLM_ROUTER_VERSION}_amd64.deb" ;;
	rpm) out="$DIST/llm-router-${LLM_ROUTER_VERSION}.x86_64.rpm" ;;
	*) die "unknown format $f" ;;
	esac
	# Packages of older versions in DIST are stale: keep one of each format.
	case $f in
	deb) rm -f "$DIST"/llm-router_*_amd64.deb ;;
	rpm) rm -f "$DIST"/llm-router-*.x86_64.rpm ;;
	esac
	log "nfpm $NFPM_VERSION -> ${out#"$ROOT"/}"
	nfpm package --config packaging/nfpm.yaml --packager "$f" --target "$out" >&2
	printf '%s\n' "$out"
done
