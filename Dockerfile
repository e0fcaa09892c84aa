# One image for the whole federation: `mpcnode serve` (a party's node), `mpc-coordinator serve`
# (the coordinator) and every command-line tool (`mpcnode pki|submit|health`, `mpc-coordinator
# run|results`). docker-compose.yml runs it as every service; a real deployment runs one daemon.
#
# Build arguments:
#   BASE_IMAGE  any Debian-like image with python3 (3.11 or newer) and its venv module.
#               Default: the official python:3.11-slim, pulled from the registry. Air-gapped:
#               mpcnode-base:bookworm, built from Debian packages by deploy/offline/build.sh.
#   OFFLINE     1: install the dependencies from deploy/offline/wheelhouse only (pip
#               --no-index), so the build needs no network at all (build it with
#               `--network none` to prove it). 0 (default): from PyPI.
#
# Conventions the compose file and a container platform rely on:
#   /etc/mpcnode/config.toml  the daemon's config (node or coordinator), beside its certificate,
#                             key, the CA and the roster; mount it read-only.
#   /var/lib/mpcnode          the daemon's SQLite data (a volume), mode 0700: a daemon refuses
#                             to start when its data directory is open to group or others.
#                             Docker gives a fresh named volume this directory's owner and mode.
#   user mpc (uid 10001)      every process; private keys must be its own, mode 0600 (a daemon
#                             refuses a key that group or others may read).
#   HEALTHCHECK               `mpcnode health`: the standard gRPC health service, over mutual
#                             TLS with the daemon's own certificate (there is no plaintext port).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG OFFLINE=0
# Lets a CI clean up this stage's untagged image: docker image prune --filter label=...
LABEL org.mpcnode.stage=build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
COPY deploy/offline/wheelhouse/ /wheelhouse/
COPY pyproject.toml /src/
# Dependencies first, read from pyproject.toml (plus the build backend, so the project itself
# can be built without build isolation): this layer survives edits of the source code.
RUN python3 -m venv /opt/mpcnode/venv \
 && python3 -c 'import tomllib; p = tomllib.load(open("/src/pyproject.toml", "rb")); print("\n".join(p["project"]["dependencies"] + p["build-system"]["requires"]))' \
      > /tmp/requirements.txt \
 && if [ "$OFFLINE" = 1 ]; then set -- --no-index --find-links /wheelhouse; fi \
 && /opt/mpcnode/venv/bin/pip install --quiet "$@" -r /tmp/requirements.txt
COPY README.md /src/
COPY mpcnode /src/mpcnode
COPY coordinator /src/coordinator
RUN /opt/mpcnode/venv/bin/pip install --quiet --no-deps --no-build-isolation /src \
 && /opt/mpcnode/venv/bin/mpcnode --help > /dev/null

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="mpcnode" \
      org.opencontainers.image.description="Secure multi-party aggregation daemons over mutual-TLS gRPC" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed uid, so that key files written by the compose pki job (chown 10001) are this user's.
RUN groupadd --gid 10001 mpc \
 && useradd --uid 10001 --gid mpc --home-dir /var/lib/mpcnode --no-create-home \
      --shell /usr/sbin/nologin mpc \
 && mkdir -p /etc/mpcnode /var/lib/mpcnode \
 && chown mpc:mpc /etc/mpcnode /var/lib/mpcnode \
 && chmod 0750 /etc/mpcnode \
 && chmod 0700 /var/lib/mpcnode
COPY --from=build /opt/mpcnode/venv /opt/mpcnode/venv
COPY deploy/compose/*.sh /opt/mpcnode/compose/
ENV PATH=/opt/mpcnode/venv/bin:/opt/mpcnode/compose:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER mpc
WORKDIR /var/lib/mpcnode
# 7000: the coordinator's analyst API; 7001: a node (round control, peers, local API, health).
EXPOSE 7000 7001
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["mpcnode", "health", "--config", "/etc/mpcnode/config.toml"]
CMD ["mpcnode", "--help"]
