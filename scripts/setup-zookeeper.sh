#!/usr/bin/env bash
# Installs what the ZooKeeper tests (tests/ha_*.rs) need, if it is missing: Debian's
# `zookeeper` package, whose server jar (/usr/share/java/zookeeper.jar) names the jars
# it needs in its manifest's Class-Path, and a Java runtime to run it. The tests start
# their own servers from that jar (tests/support/zookeeper.rs); nothing here starts a
# service, and the package's own service is not enabled by the install.
#
# Idempotent: a second run only checks.
#
#   scripts/setup-zookeeper.sh
set -euo pipefail

JAR=/usr/share/java/zookeeper.jar

log() { printf 'setup-zookeeper: %s\n' "$*" >&2; }

missing=()
[ -f "$JAR" ] || missing+=(zookeeper)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)

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

# The server class must load from the jar with the manifest's class path.
version="$(java -cp "$JAR" org.apache.zookeeper.Version 2>/dev/null)" ||
  { log "$JAR does not load (java -cp $JAR org.apache.zookeeper.Version failed)"; exit 1; }
log "ZooKeeper $version at $JAR"
