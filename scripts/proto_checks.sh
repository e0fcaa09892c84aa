#!/usr/bin/env bash
# Checks the contract in proto/ with buf: `buf lint` (buf.yaml says which rules and why), then
# `buf breaking` against the last release, so that a change which would break deployed nodes
# or partner clients fails CI instead of reaching them.
#
# buf comes from npm, pinned in tools/buf/package.json (its lockfile pins the platform
# binaries too); `npm ci` installs it there when it is missing, so a fresh clone needs only
# node and npm (.ci/run installs them). Runs from any directory, and offline once
# tools/buf/node_modules exists.
#
# The baseline of `buf breaking`: the nearest tag v* before HEAD (the previous release). The
# repository has no release tag yet, so until the first one it compares against HEAD~1, the
# previous commit: that catches a breaking commit, though not one an earlier commit of the
# same push already made. With neither (a shallow or one-commit clone) it says so and skips.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=tools/buf
buf=$tools/node_modules/.bin/buf
if [ ! -x "$buf" ]; then
  if ! command -v npm >/dev/null; then
    echo "proto checks need node and npm (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
  echo "== installing buf from npm (npm ci in $tools)"
  npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error
fi

echo "== buf lint (buf $("$buf" --version))"
"$buf" lint
echo "buf lint: no findings"

# Baseline. Tags reachable from HEAD~1, not HEAD: on a release commit itself the previous
# release is the one to compare with, not the tag on the commit being checked.
against=""
if git rev-parse --verify --quiet 'HEAD~1^{commit}' >/dev/null; then
  if tag=$(git describe --tags --abbrev=0 --match 'v*' HEAD~1 2>/dev/null); then
    echo "== buf breaking against the previous release tag $tag"
    against=".git#tag=$tag,subdir=proto"
  else
    previous=$(git rev-parse --short HEAD~1)
    echo "== buf breaking against the previous commit HEAD~1 ($previous): no release tag v* yet"
    against=".git#ref=$(git rev-parse HEAD~1),subdir=proto"
  fi
fi
if [ -z "$against" ]; then
  echo "== buf breaking skipped: no commit before HEAD in this clone (shallow, or the first)"
  exit 0
fi
# subdir=proto: the baseline's module is its proto/ directory, whether or not that revision
# had a buf.yaml (commits before this script had none).
"$buf" breaking --against "$against"
echo "buf breaking: no breaking change"
