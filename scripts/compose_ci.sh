#!/usr/bin/env bash
# CI, container part (called by .ci/run after the fast suite): the docker compose simulation,
# for real, on a machine that may have no docker at all and reaches no container registry.
#
#  1. installs docker.io, docker-compose, debootstrap and shellcheck from Debian if missing;
#  2. starts dockerd if none answers (and stops it at the end only if it started it);
#  3. builds the offline base (debootstrap) and the image (docker build --network none);
#  4. runs README's newcomer commands: compose up --build, the demo's result (12686, 3171.5);
#  5. runs README's other computation, and the fifth party joining (16786, 3357.2);
#  6. runs the fault test: bob's container dies mid-round (at the share step) (tests/containers);
#  7. tears down every container, network, volume and image it made, even on failure, and
#     checks that nothing of its compose projects is left.
# Needs .venv (README command 2 made it). Images, projects and the port are CI's own, so a
# simulation a person runs on the same machine is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
unset COMPOSE_FILE COMPOSE_PROJECT_NAME

PROJECT=mpcnode-ci
FAULT_PROJECT=mpcnode-ci-fault
export BASE_TAG=mpcnode-base:ci IMAGE_TAG=mpcnode:ci
export MPCNODE_IMAGE=$IMAGE_TAG MPCNODE_BASE_IMAGE=$BASE_TAG MPCNODE_OFFLINE=1
export MPCNODE_FAULT_PROJECT=$FAULT_PROJECT
FIFTH=docker-compose.yml:deploy/compose/fifth-party.yml
LOGS=$(mktemp -d /tmp/mpcnode-ci.XXXXXX)
DOCKERD_PID=""
timings=()

step() { printf '\n== %s\n' "$*"; }
timed() {
  # timed LABEL COMMAND...: run COMMAND, note how long it took.
  local label=$1 start=$SECONDS
  shift
  "$@"
  timings+=("$(printf '%-34s %4d s' "$label" $((SECONDS - start)))")
}

install_packages() {
  local need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 ||
    need+=(docker-compose)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v shellcheck >/dev/null || need+=(shellcheck)
  if [ "${#need[@]}" -gt 0 ]; then
    echo "installing ${need[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >"$LOGS/apt.log" 2>&1 ||
      { tail -n 30 "$LOGS/apt.log"; return 1; }
  fi
}

start_dockerd() {
  if docker info >/dev/null 2>&1; then
    echo "using the running docker engine"
    return
  fi
  dockerd >"$LOGS/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && { echo "started dockerd (pid $DOCKERD_PID)"; return; }
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  tail -n 30 "$LOGS/dockerd.log"
  echo "dockerd did not come up" >&2
  return 1
}

pick_compose() {
  if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  else
    COMPOSE=(docker-compose)
  fi
  export MPCNODE_COMPOSE="${COMPOSE[*]}"
  echo "compose: $("${COMPOSE[@]}" version | head -n 1)"
}

compose() { "${COMPOSE[@]}" --project-name "$PROJECT" "$@"; }

# demo_output FILE: follow the demo job to its end (as README says), keep its log in FILE,
# and fail unless it exited 0.
demo_output() {
  local id code
  timeout 600 "${COMPOSE[@]}" --project-name "$PROJECT" logs --no-color -f demo | tee "$1"
  id=$(compose ps -a -q demo)
  code=$(docker inspect --format '{{.State.ExitCode}}' "$id")
  [ "$code" = 0 ] || { echo "the demo job exited $code" >&2; return 1; }
}

expect() {
  # expect FILE TEXT...: every TEXT is a line fragment of FILE.
  local file=$1
  shift
  for text in "$@"; do
    grep -qF -- "$text" "$file" || { echo "missing in output: '$text'" >&2; return 1; }
  done
}

simulation() {
  # README: the two newcomer commands (with the offline base, as no registry is reachable).
  compose up --build -d
  demo_output "$LOGS/demo.log"
  expect "$LOGS/demo.log" "sum    12686" "mean   3171.5" "participants: alice, bob, carlos, david"
  compose ps
  local running
  running=$(compose ps --services --filter status=running | sort | tr '\n' ' ')
  [ "$running" = "alice bob carlos coordinator david " ] ||
    { echo "running services: $running" >&2; return 1; }
}

another_computation() {
  # README: a vote handed to each node by its own organization, then a histogram.
  local party vote
  for party in alice bob carlos david; do
    case $party in
      bob) vote="0 1 0" ;;
      david) vote="0 0 1" ;;
      *) vote="1 0 0" ;;
    esac
    # shellcheck disable=SC2086 # the vote is three separate numbers
    compose run --rm -T hr "$party" submit --dataset lunch $vote
  done
  compose run --rm -T analyst run --kind histogram --dataset lunch --bins pizza,sushi,tacos \
    --upper 1 | tee "$LOGS/histogram.log"
  expect "$LOGS/histogram.log" "counts pizza  2" "counts sushi  1" "counts tacos  1"
  # README: the same vote with distributed noise, then alice's privacy budget.
  compose run --rm -T analyst run --kind histogram --dataset lunch --bins pizza,sushi,tacos \
    --upper 1 --dp discrete_laplace --epsilon 0.5 | tee "$LOGS/noisy-histogram.log"
  expect "$LOGS/noisy-histogram.log" "privacy: discrete_laplace, distributed, epsilon=0.5" \
    "winner "
  compose run --rm -T hr alice budget --dataset lunch | tee "$LOGS/budget.log"
  expect "$LOGS/budget.log" "epsilon spent 0.5 of 1 (remaining 0.5)"
}

fifth_party() {
  # README: erin joins; every daemon restarts on the new roster; the demo runs with five.
  COMPOSE_FILE=$FIFTH compose up -d --force-recreate
  COMPOSE_FILE=$FIFTH demo_output "$LOGS/demo5.log"
  expect "$LOGS/demo5.log" "sum    16786" "mean   3357.2" \
    "participants: alice, bob, carlos, david, erin"
}

fault_test() {
  MPCNODE_CONTAINER_TESTS=1 .venv/bin/python -m pytest tests/containers -m containers -v \
    -p no:cacheprovider |
    tee "$LOGS/fault.log"
  # A skip would pass silently: the test must have run.
  grep -qE '[0-9]+ passed' "$LOGS/fault.log" && ! grep -qE '[0-9]+ skipped' "$LOGS/fault.log"
}

leftovers() {
  local project
  for project in "$PROJECT" "$FAULT_PROJECT"; do
    docker ps -aq --filter "label=com.docker.compose.project=$project"
    docker network ls -q --filter "label=com.docker.compose.project=$project"
    docker volume ls -q --filter "label=com.docker.compose.project=$project"
  done
}

teardown() {
  local status=$?
  set +e
  if docker info >/dev/null 2>&1; then
    if [ "$status" != 0 ] && [ "${#COMPOSE[@]}" -gt 0 ]; then
      COMPOSE_FILE=$FIFTH compose logs --no-color --tail 40 2>&1 | tail -n 200
    fi
    if [ "${#COMPOSE[@]}" -gt 0 ]; then
      # The superset of both files, so that erin's container and volumes go too.
      COMPOSE_FILE=$FIFTH compose down -v --remove-orphans >/dev/null 2>&1
      "${COMPOSE[@]}" --project-name "$FAULT_PROJECT" down -v --remove-orphans >/dev/null 2>&1
    fi
    docker rmi "$IMAGE_TAG" "$BASE_TAG" >/dev/null 2>&1
    # The build stage's images (untagged, labelled in the Dockerfile).
    docker image prune -f --filter label=org.mpcnode.stage=build >/dev/null 2>&1
    local left
    left=$(leftovers)
    if [ -n "$left" ]; then
      echo "left behind: $left" >&2
      status=1
    fi
  fi
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID"
    for _ in $(seq 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && kill -9 "$DOCKERD_PID"
    echo "stopped the dockerd this script started"
  fi
  rm -rf "$LOGS"
  if [ "${#timings[@]}" -gt 0 ]; then
    printf '\n== container CI timings\n'
    printf '%s\n' "${timings[@]}"
  fi
  exit "$status"
}
COMPOSE=()
trap teardown EXIT

step "docker, docker-compose, debootstrap"
timed "install packages (if missing)" install_packages
timed "start dockerd (if none runs)" start_dockerd
pick_compose
# The analyst API's host port: a free one, not 7000, which a person's simulation may hold.
MPC_COORDINATOR_PORT=$(.venv/bin/python -c 'from mpcnode.federation import free_port; print(free_port())')
export MPC_COORDINATOR_PORT
step "shell scripts (shellcheck)"
shellcheck deploy/offline/build.sh deploy/compose/*.sh scripts/compose_ci.sh scripts/proto_checks.sh
step "offline build: wheelhouse, debootstrap base, image with --network none"
timed "wheelhouse (pip wheel)" deploy/offline/build.sh wheelhouse
FORCE_BASE=1 timed "base image (debootstrap + import)" deploy/offline/build.sh base
timed "image (docker build, no network)" deploy/offline/build.sh image
step "compose simulation: README's two commands"
timed "compose up --build + demo" simulation
step "compose simulation: another computation against the running federation"
timed "histogram via the hr, analyst tools" another_computation
step "compose simulation: a fifth party joins"
timed "fifth party (erin)" fifth_party
COMPOSE_FILE=$FIFTH compose down -v --remove-orphans
step "fault test: bob's container dies mid-round (at the share step)"
timed "fault test (pytest, containers)" fault_test
step "container CI passed"
