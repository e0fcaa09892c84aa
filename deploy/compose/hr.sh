#!/usr/bin/env bash
# hr.sh PARTY COMMAND...: run `mpcnode COMMAND...` as PARTY's own systems (its HR, say).
#
# Sets the node address, party id and that organization's client certificate, so that in the
# compose simulation one organization's data can be handed to its node in a short line (the
# `hr` service's entrypoint is this script):
#   docker compose run --rm hr alice submit --dataset lunch 1 0 0
#   docker compose run --rm hr alice releases
set -euo pipefail

usage() {
  echo "usage: hr PARTY COMMAND [ARGS...], e.g. hr alice submit --dataset lunch 1 0 0"
  echo "       hr alice inputs | hr alice releases | hr alice delete --dataset lunch"
}
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac
[ $# -ge 2 ] || { usage >&2; exit 2; }
party=$1
shift
export MPCNODE_NODE="$party:${NODE_PORT:-7001}" MPCNODE_PARTY="$party" \
  MPCNODE_CERT="/pki/$party-hr/$party-hr.crt" MPCNODE_KEY="/pki/$party-hr/$party-hr.key" \
  MPCNODE_CA="/pki/$party-hr/ca.crt"
exec mpcnode "$@"
