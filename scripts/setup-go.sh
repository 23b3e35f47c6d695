#!/usr/bin/env bash
# Installs what the mesos-go client test (tests/mesos_go_client.rs) needs, if it is
# missing, and builds that test's Go scheduler once to check it compiles here:
#
#   golang-go                          Go 1.19 (Debian bookworm)
#   golang-github-mesos-mesos-go-dev   mesos-go 0.0.6: api/v1 with httpsched, the
#                                      extras/scheduler controller and the protobuf types
#   golang-github-gogo-protobuf-dev    gogo protobuf, which those types are generated with
#   golang-github-pquerna-ffjson-dev   ffjson, which their JSON side needs
#
# (the last two are dependencies of the mesos-go package anyway; named for clarity).
# Everything lives under /usr/share/gocode, so the scheduler builds offline in GOPATH
# mode: GO111MODULE=off GOPATH=/usr/share/gocode go build. The build cache goes under
# the cargo target dir (target/mesosgo/gocache), where the test looks for it.
#
# Idempotent: a second run only checks, and rebuilds from a warm cache in a second.
#
#   scripts/setup-go.sh
set -euo pipefail
cd "$(dirname "$0")/.."

GOPATH_DEBIAN=/usr/share/gocode
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

log() { printf 'setup-go: %s\n' "$*" >&2; }

# package -> a path that package provides
declare -A NEEDS=(
  [golang-github-mesos-mesos-go-dev]="$GOPATH_DEBIAN/src/github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
  [golang-github-gogo-protobuf-dev]="$GOPATH_DEBIAN/src/github.com/gogo/protobuf/proto"
  [golang-github-pquerna-ffjson-dev]="$GOPATH_DEBIAN/src/github.com/pquerna/ffjson/fflib/v1"
)

missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
for package in "${!NEEDS[@]}"; do
  [ -d "${NEEDS[$package]}" ] || missing+=("$package")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    log "missing ${missing[*]} and there is no apt-get: install them by hand"
    exit 1
  fi
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  log "installing ${missing[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

go version >&2
mkdir -p "$TARGET_DIR/mesosgo"
GOCACHE="$(cd "$TARGET_DIR/mesosgo" && pwd)/gocache"
OUT="$(cd "$TARGET_DIR/mesosgo" && pwd)/scheduler"
(
  cd tests/clients/mesosgo
  GO111MODULE=off GOPATH="$GOPATH_DEBIAN" GOCACHE="$GOCACHE" GOFLAGS="" CGO_ENABLED=0 \
    go build -o "$OUT" .
)
log "built $OUT (mesos-go api/v1 from $GOPATH_DEBIAN)"
