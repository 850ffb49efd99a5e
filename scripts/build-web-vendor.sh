#!/usr/bin/env bash
# Builds the web client's third-party code: node/web/static/vendor/age-encryption.js, one
# self-contained ES module holding the age implementation (npm package age-encryption and the
# @noble/@scure libraries it uses), with their licenses at the top.
#
#   bash scripts/build-web-vendor.sh           rebuild the bundle in place
#   bash scripts/build-web-vendor.sh --check   rebuild into a temporary file and fail if it
#                                              differs from the committed bundle
#
# Versions are pinned exactly in node/web/vendor/package.json and package-lock.json (npm ci
# installs exactly the lockfile, checking every package's integrity hash, and runs no install
# scripts). The output is deterministic: the same lockfile gives the same bytes, whose SHA-256
# node/web/vendor/README.md records. Needs Node.js and npm; serving or testing Parley does not,
# since the bundle is committed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
vendor=$root/node/web/vendor
out=$root/node/web/static/vendor/age-encryption.js

check=0
case "${1:-}" in
"") ;;
--check) check=1 ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$tool is not installed: install Node.js and npm (Debian: apt-get install nodejs npm)" >&2
		exit 1
	fi
done

cd "$vendor"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

# The banner: for every package that ends up in the bundle (the lockfile's non-dev packages, in
# lockfile order), its name, version, license and the text of its LICENSE file.
banner=$(node --input-type=module -e '
import fs from "node:fs";
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
let s = "/*!\n * age-encryption.js: the age file encryption format (https://age-encryption.org) for\n" +
  " * the Parley web client, bundled from the npm packages below by scripts/build-web-vendor.sh.\n" +
  " * Do not edit: rebuild.\n";
for (const [dir, p] of Object.entries(lock.packages)) {
  if (dir === "" || p.dev) continue;
  const meta = JSON.parse(fs.readFileSync(dir + "/package.json", "utf8"));
  const text = fs.readFileSync(dir + "/LICENSE", "utf8").trim();
  if (text.includes("*/")) throw new Error(dir + "/LICENSE contains a comment terminator");
  s += " *\n * ---- " + meta.name + "@" + meta.version + " (" + meta.license + ") ----\n *\n";
  s += text.split("\n").map((l) => (" * " + l).trimEnd()).join("\n") + "\n";
}
process.stdout.write(s + " */");
')

target=$out
if [ "$check" = 1 ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	target=$tmp/age-encryption.js
fi
mkdir -p "$(dirname "$target")"

./node_modules/.bin/esbuild age-entry.js \
	--bundle --format=esm --platform=browser --target=es2022 \
	--charset=ascii --legal-comments=eof --log-level=warning \
	"--banner:js=$banner" --outfile="$target"

sum=$(sha256sum "$target" | cut -d' ' -f1)
size=$(wc -c <"$target")
if [ "$check" = 1 ]; then
	if ! cmp -s "$target" "$out"; then
		echo "node/web/static/vendor/age-encryption.js is not what the build gives (built: sha256 $sum, $size bytes)" >&2
		exit 1
	fi
	echo "node/web/static/vendor/age-encryption.js matches the build: sha256 $sum, $size bytes"
else
	echo "wrote node/web/static/vendor/age-encryption.js: sha256 $sum, $size bytes"
fi
