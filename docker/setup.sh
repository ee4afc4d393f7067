#!/bin/sh
# setup.sh - the compose demo's one-shot set-up (docker/compose.yaml, service
# `setup`): keys, schema, asset registry, adapters and a console. Safe to run
# again: existing keys and registrations are kept, the registry re-imported.
#
#   TOCSIN_DB=CONNINFO [TOCSIN_KEYS=DIR] [TOCSIN_CITY=DIR] [TOCSIN_PG_PASSWORD_FILE=FILE] setup.sh
#
# TOCSIN_KEYS (default /etc/tocsin/keys) gets the key pairs of the server, the
# five demo adapters and the console desk1 (secret keys 0600, owned by whoever
# runs this: the image's user `tocsin`). With TOCSIN_PG_PASSWORD_FILE, it also
# gets `pgpass` (0600), a libpq password file of that password, for PGPASSFILE.
# TOCSIN_CITY (default /usr/share/tocsin/demo/city) holds assets.csv and
# dependencies.csv. tests/integration/test_install.py runs this script.
set -eu

keys=${TOCSIN_KEYS:-/etc/tocsin/keys}
city=${TOCSIN_CITY:-/usr/share/tocsin/demo/city}
: "${TOCSIN_DB:?set TOCSIN_DB to the libpq connection string of the database}"

umask 077
cd "$keys"
if [ -n "${TOCSIN_PG_PASSWORD_FILE:-}" ]; then
	pw=$(cat "$TOCSIN_PG_PASSWORD_FILE")
	[ -n "$pw" ] || { echo "setup: $TOCSIN_PG_PASSWORD_FILE is empty" >&2; exit 1; }
	printf '*:*:*:*:%s\n' "$pw" >pgpass
fi

for k in server power water netco transport health desk1; do
	[ -f "$k.key" ] && [ -f "$k.pub" ] || tocsin keygen "$k" >/dev/null
done
echo "setup: keys in $keys"

tocsin db migrate
tocsin assets import "$city/assets.csv" "$city/dependencies.csv"

# registered and live ("-" in REVOKED, the last column)?
live() { tocsin "$1" list | awk -v n="$2" '$1 == n && $NF == "-" { found = 1 } END { exit !found }'; }
add_adapter() {
	name=$1
	shift
	live adapter "$name" || tocsin adapter add "$name" --key "$name.pub" "$@"
}
add_adapter power --sectors energy --assets SUB-,GSP-,FDR-
add_adapter water --sectors water
add_adapter netco --sectors communications
add_adapter transport --sectors transport
add_adapter health --sectors health,emergency-services
live console desk1 || tocsin console add desk1 --key desk1.pub --clearance official-sensitive
tocsin adapter list
tocsin console list
