#!/usr/bin/env bash
# hr.sh PARTY COMMAND...: run `mpcnode COMMAND...` as PARTY's own systems (its HR, say).
#
# Sets the node address, party id and that organization's client certificate, so that in the
# compose simulation one organization's data can be handed to its node in a short line:
#   docker compose run --rm demo hr.sh alice submit --dataset bonus 500
#   docker compose run --rm demo hr.sh alice releases
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: hr.sh PARTY COMMAND [ARGS...]" >&2; exit 2; }
party=$1
shift
export MPCNODE_NODE="$party:${NODE_PORT:-7001}" MPCNODE_PARTY="$party" \
  MPCNODE_CERT="/pki/$party-hr/$party-hr.crt" MPCNODE_KEY="/pki/$party-hr/$party-hr.key" \
  MPCNODE_CA="/pki/$party-hr/ca.crt"
exec mpcnode "$@"
