#!/usr/bin/env bash
# Parley's test command, the one README documents and CI runs (.ci/run):
#
#   bash scripts/test.sh
#
# On a fresh Debian machine it first installs what the tests need and is missing (Chromium and
# Firefox ESR for the browser tests, a C compiler for the race detector, PocketSphinx with its
# US English model, libopus and espeak-ng for the speech engine and its test audio), with sudo
# unless run as root; Go itself must already be installed. Then it runs go vet, a gofmt check,
# a build without cgo (parley itself needs no C library), the whole test suite with the speech
# engine built in (tags pocketsphinx,libopus), and the race detector on the packages where it is
# affordable. It exits non-zero on any failure.
#
# Environment:
#   PARLEY_CHROMIUM   Chromium binary to use (default: chromium on the PATH or /usr/bin/chromium)
#   PARLEY_FIREFOX    Firefox binary to use (default: firefox-esr or firefox on the PATH)
#   PARLEY_NO_INSTALL set to 1 to never install anything
#   PARLEY_TEST_LOG   set to debug for debug logs in failing tests' output
#   CI                when true, a missing browser fails the browser tests instead of skipping them
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '== %s\n' "$*"; }

if ! command -v go >/dev/null 2>&1; then
	echo "go is not installed: install Go (the version go.mod names) and run this again" >&2
	exit 1
fi

# Packages the race detector runs on. testnet is left out: it passes under -race too, but on
# two cores with a cold build cache the race build of the DevTools protocol packages it pulls
# in pushes the whole command past seven minutes. Run `go test -race ./testnet/` when
# changing concurrency between the node, the SFU and the client.
RACE_PACKAGES=(./cmd/... ./identity/... ./mesh/... ./federation/... ./media/... ./node/...)

need=()
have_chromium() {
	[ -n "${PARLEY_CHROMIUM:-}" ] && [ -x "${PARLEY_CHROMIUM}" ] && return 0
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || [ -x /usr/bin/chromium ]
}
have_chromium || need+=(chromium fonts-liberation)
have_firefox() {
	[ -n "${PARLEY_FIREFOX:-}" ] && [ -x "${PARLEY_FIREFOX}" ] && return 0
	command -v firefox-esr >/dev/null 2>&1 || command -v firefox >/dev/null 2>&1
}
have_firefox || need+=(firefox-esr)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
# The embedded speech engine (build tags pocketsphinx,libopus) and the voice its tests hear.
for pkg in pkg-config libpocketsphinx-dev pocketsphinx-en-us libopus-dev espeak-ng; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done

if [ ${#need[@]} -gt 0 ]; then
	if [ "${PARLEY_NO_INSTALL:-}" = 1 ]; then
		say "missing ${need[*]}; PARLEY_NO_INSTALL=1, not installing"
	elif command -v apt-get >/dev/null 2>&1; then
		sudo=()
		if [ "$(id -u)" != 0 ]; then
			if ! command -v sudo >/dev/null 2>&1; then
				echo "need to install ${need[*]} but not root and no sudo: install them and run this again" >&2
				exit 1
			fi
			sudo=(sudo)
		fi
		say "installing ${need[*]}"
		"${sudo[@]}" apt-get update -qq
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
	else
		echo "need ${need[*]} and apt-get is not available: install them and run this again" >&2
		exit 1
	fi
fi

# The speech engine is built into the tests when its libraries are there.
tags=()
if command -v gcc >/dev/null 2>&1 && [ "$(go env CGO_ENABLED)" = 1 ] && pkg-config --exists pocketsphinx opus 2>/dev/null; then
	tags=(-tags pocketsphinx,libopus)
elif [ "${CI:-}" = true ]; then
	echo "CI=true but the speech engine's libraries (libpocketsphinx-dev, libopus-dev) or cgo are missing" >&2
	exit 1
else
	say "no PocketSphinx/libopus or no cgo: the embedded speech engine's tests are left out"
fi

race=1
if ! command -v gcc >/dev/null 2>&1 || [ "$(go env CGO_ENABLED)" != 1 ]; then
	say "no C compiler or cgo disabled: skipping the race detector"
	race=0
fi

# Test artifacts (browser screenshots, page HTML and console of failed browser tests) land here.
artifacts="$(mktemp -d -t parley-test-artifacts.XXXXXX)"

status=0
start=$SECONDS

step() { say "$* ($((SECONDS - start))s)"; }

step "go vet ${tags[*]} ./..."
go vet "${tags[@]}" ./... || status=1

step "CGO_ENABLED=0 go build ./..."
CGO_ENABLED=0 go build ./... || status=1

step "gofmt -l"
unformatted="$(gofmt -l cmd identity media mesh federation node testnet)"
if [ -n "$unformatted" ]; then
	echo "not gofmt-formatted (run gofmt -w on them):" >&2
	echo "$unformatted" >&2
	status=1
fi

step "go test ${tags[*]} -count=1 ./..."
# The timeout guards against a hang; the browser tests of testnet take 9 to 16 minutes on a
# busy 2-core machine.
go test "${tags[@]}" -count=1 -timeout 30m -artifacts -outputdir "$artifacts" ./... || status=1

if [ "$race" = 1 ]; then
	step "go test -race -count=1 ${RACE_PACKAGES[*]}"
	go test -race -count=1 -timeout 9m "${RACE_PACKAGES[@]}" || status=1
fi

if [ -n "$(find "$artifacts" -type f -print -quit 2>/dev/null)" ]; then
	say "test artifacts kept in $artifacts"
else
	rm -rf "$artifacts"
fi

elapsed=$((SECONDS - start))
if [ "$status" = 0 ]; then
	say "all tests passed in ${elapsed}s"
else
	say "FAILED after ${elapsed}s"
fi
exit "$status"
