#!/usr/bin/env bash
# The compose `pki` job: the federation operator's work, done for the simulation.
#
# Issues the federation CA and every certificate with `mpcnode pki`, exactly as README's
# "Deploying one node per organization" does by hand, and writes each daemon's config and the
# roster (with every party's key pin). Each identity has its own volume, mounted here at
# /pki/<identity>, and each daemon later mounts only its own:
#
#   /pki/ca             the CA key: only this job ever mounts it
#   /pki/coordinator    coordinator.crt/.key, ca.crt, roster.toml, config.toml
#   /pki/<party>        <party>.crt/.key, ca.crt, roster.toml, config.toml   (the node)
#   /pki/<party>-hr     <party>-hr.crt/.key, ca.crt    (the organization's own systems)
#   /pki/analyst        analyst.crt/.key, ca.crt
#
# Safe to run again (every `docker compose up` does): the CA and existing keys are kept, so
# pins stay valid; only missing identities are issued, and configs and rosters are rewritten,
# which is how a fifth party joins (README). Runs as root because docker creates the mount
# points of fresh volumes root-owned; it hands every volume but the CA's to the daemons' user.
#
# Environment: PARTIES (alice bob carlos david), FEDERATION (compose-demo), NODE_PORT (7001),
# COORDINATOR_PORT (7000), RAISES_PERIOD (1), MIN_PARTIES (3), OWNER (10001:10001).
set -euo pipefail

PARTIES=${PARTIES:-alice bob carlos david}
FEDERATION=${FEDERATION:-compose-demo}
NODE_PORT=${NODE_PORT:-7001}
COORDINATOR_PORT=${COORDINATOR_PORT:-7000}
# The period of the demo's dataset: a fifth party joins for the next period, since an exact
# sum over five parties after one over four would reveal the fifth's raise (README).
RAISES_PERIOD=${RAISES_PERIOD:-1}
MIN_PARTIES=${MIN_PARTIES:-3}
OWNER=${OWNER:-10001:10001}
PKI=/pki
read -r -a parties <<<"$PARTIES"
identities=(coordinator analyst)
for party in "${parties[@]}"; do
  identities+=("$party" "$party-hr")
done

die() { printf 'pki: %s\n' "$*" >&2; exit 1; }

# Every identity needs its volume; without it the files would vanish with this container.
for dir in ca "${identities[@]}"; do
  mountpoint -q "$PKI/$dir" || die "no volume mounted at $PKI/$dir: add '$dir:$PKI/$dir' to the pki service"
done

if [ ! -f "$PKI/ca/ca.crt" ]; then
  mpcnode pki init-ca --dir "$PKI/ca" --federation "$FEDERATION"
fi

# issue DIR STEM ARGS...: issue the certificate DIR/STEM.crt unless it exists under this CA.
issue() {
  local dir=$1 stem=$2
  shift 2
  if [ -f "$dir/$stem.crt" ] && cmp -s "$PKI/ca/ca.crt" "$dir/ca.crt"; then
    echo "kept $dir/$stem.crt"
    return
  fi
  # A certificate of another CA (its volume outlived the CA's) is replaced, not mixed in.
  mpcnode pki issue --ca-dir "$PKI/ca" --out "$dir" --force "$@" >/dev/null
  echo "issued $dir/$stem.crt"
}

issue "$PKI/coordinator" coordinator --role coordinator --name coordinator \
  --host coordinator --host localhost --host 127.0.0.1
issue "$PKI/analyst" analyst --role analyst --name analyst
for party in "${parties[@]}"; do
  issue "$PKI/$party" "$party" --role party --name "$party" --host "$party"
  # A volume from before seal keys has a certificate but no seal key: give it one.
  if [ ! -f "$PKI/$party/$party.seal.key" ]; then
    mpcnode pki new-seal-key --out "$PKI/$party" --name "$party" >/dev/null
  fi
  issue "$PKI/$party-hr" "$party-hr" --role client --org "$party" --name hr
done

# Every node pins the coordinator's key, as the deployment docs require (README).
coordinator_pin=$(mpcnode pki pin "$PKI/coordinator/coordinator.crt")

roster=$(mktemp)
{
  echo "# The federation's parties. Written by the compose pki job (deploy/compose/pki-init.sh)."
  for party in "${parties[@]}"; do
    printf '\n[[party]]\nid = "%s"\naddress = "%s:%s"\nseal_key = "%s"\npin = "%s"\n' \
      "$party" "$party" "$NODE_PORT" "$(mpcnode pki seal-key "$PKI/$party/$party.seal.key")" \
      "$(mpcnode pki pin "$PKI/$party/$party.crt")"
  done
} >"$roster"

cat >"$PKI/coordinator/config.toml" <<EOF
# The coordinator's config. Written by the compose pki job (deploy/compose/pki-init.sh).
listen = "0.0.0.0:$COORDINATOR_PORT"
data_dir = "/var/lib/mpcnode"
roster_file = "roster.toml"

[tls]
cert = "coordinator.crt"
key = "coordinator.key"
ca = "ca.crt"
EOF
install -m 0644 "$roster" "$PKI/coordinator/roster.toml"

for party in "${parties[@]}"; do
  cat >"$PKI/$party/config.toml" <<EOF
# The node of $party. Written by the compose pki job (deploy/compose/pki-init.sh).
party_id = "$party"
listen = "0.0.0.0:$NODE_PORT"
data_dir = "/var/lib/mpcnode"
roster_file = "roster.toml"
seal_key = "$party.seal.key"

[tls]
cert = "$party.crt"
key = "$party.key"
ca = "ca.crt"

[coordinator]
pin = "$coordinator_pin"

[policy]
min_parties = $MIN_PARTIES

# The organization's own declarations of its datasets (README: "Datasets").
[datasets.raises]
shape = "scalar"
lower = 0
upper = 10000
period = "$RAISES_PERIOD"

[datasets.lunch]
shape = "vote"
upper = 1
length = 3
bins = ["pizza", "sushi", "tacos"]
EOF
  install -m 0644 "$roster" "$PKI/$party/roster.toml"
done
rm -f "$roster"

# The daemons run as uid 10001: they own their volumes; the CA key stays root's alone.
# Private keys are 0600 (a daemon refuses to start with a key open to group or others);
# `mpcnode pki` writes them so, and the chmod also tightens a key a volume kept from before.
for dir in "${identities[@]}"; do
  chown -R "$OWNER" "$PKI/$dir"
  chmod 0750 "$PKI/$dir"
  find "$PKI/$dir" -maxdepth 1 -name '*.key' -exec chmod 0600 {} +
done
chmod 0700 "$PKI/ca"
chmod 0600 "$PKI/ca/ca.key"
echo "pki: federation $FEDERATION, parties: ${parties[*]}"
