#!/usr/bin/env bash
# Fetch the passkey providers' AAGUID list (names and icons) that the worker
# ships as a static asset (www/__actiongate/aaguid.json; see docs/passkeys.md),
# check it, and write it in place. Review and commit the change.
set -euo pipefail
cd "$(dirname "$0")/.."
URL=${AAGUID_LIST_URL:-https://raw.githubusercontent.com/passkeydeveloper/passkey-authenticator-aaguids/main/aaguid.json}
OUT=www/__actiongate/aaguid.json
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
curl -fsSL --max-time 60 "$URL" -o "$tmp"
node_modules/.bin/node --input-type=module - "$tmp" <<'JS'
import { readFileSync } from "node:fs";
const list = JSON.parse(readFileSync(process.argv[2], "utf8"));
const problems = [];
if (list === null || typeof list !== "object" || Array.isArray(list)) problems.push("not a JSON object");
else if (Object.keys(list).length === 0) problems.push("empty: the list may have been retired (see its README)");
for (const [aaguid, entry] of Object.entries(list ?? {})) {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(aaguid)) problems.push(`${aaguid}: not a lowercase AAGUID`);
  if (typeof entry?.name !== "string" || entry.name.trim() === "") problems.push(`${aaguid}: no name`);
  for (const icon of ["icon_light", "icon_dark"]) {
    if (entry?.[icon] !== undefined && !String(entry[icon]).startsWith("data:image/svg+xml;base64,")) problems.push(`${aaguid}: ${icon} is not an SVG data URI`);
  }
}
if (problems.length) {
  console.error(`the AAGUID list was not updated:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`${Object.keys(list).length} passkey providers`);
JS
mv "$tmp" "$OUT"
trap - EXIT
echo "wrote $OUT"
