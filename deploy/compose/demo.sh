#!/usr/bin/env bash
# The compose `demo` job: the seed example of `mpcnode demo`, through the real containers.
#
# Plays each organization's own systems, then the analyst. Each party's raise goes to that
# party's node through its local API, with that organization's client certificate; then the
# analyst asks the coordinator for the sum and the mean and prints them:
#   sum    12686      (3800 + 2514 + 2982 + 3390)
#   mean   3171.5
#
# Environment: RAISES ("alice=3800 bob=2514 carlos=2982 david=3390"), NODE_PORT (7001), and
# the analyst's MPC_COORDINATOR, MPC_CERT, MPC_KEY, MPC_CA (set by docker-compose.yml).
set -euo pipefail

RAISES=${RAISES:-alice=3800 bob=2514 carlos=2982 david=3390}
NODE_PORT=${NODE_PORT:-7001}

read -r -a raises <<<"$RAISES"
for entry in "${raises[@]}"; do
  party=${entry%%=*}
  hr=/pki/$party-hr
  mpcnode submit --node "$party:$NODE_PORT" --party "$party" \
    --cert "$hr/$party-hr.crt" --key "$hr/$party-hr.key" --ca "$hr/ca.crt" \
    --dataset raises "${entry#*=}" >/dev/null
  echo "$party's HR system gave its node its raise (kept private)"
done

for kind in sum mean; do
  echo
  mpc-coordinator run --kind "$kind" --name "$kind of raises" --dataset raises \
    --lower 0 --upper 10000 --min-parties 3
done
