#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: the real peers from Debian
# (redis-server/redis-cli/redis-benchmark, twemproxy, etcd, iptables for the chaos harness, chromium
# for the web UI tests, iproute2 and util-linux for the network-namespace drills,
# promtool from prometheus for the alert rules, openssl for the TLS tests' certificates) and
# the Python package with its test extras (Playwright drives Debian's chromium; no browser download).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq redis-server redis-tools nutcracker etcd-server iptables chromium prometheus openssl iproute2 procps util-linux >/dev/null
python3 -m pip install -q -e '.[test]'
