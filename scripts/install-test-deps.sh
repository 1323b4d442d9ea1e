#!/usr/bin/env bash
# Installs the system packages the test suite needs: Dovecot (IMAP server) for the
# real-server IMAP tests in tests/test_servers.py and later IMAP tests, Debian's Chromium for
# the web desk's browser tests (tests/test_web_browser.py; Playwright drives /usr/bin/chromium
# and never downloads a browser of its own), and PostgreSQL for tests/state/test_postgres.py (and the
# whole suite's second run, PARTNERSHIPS_TEST_DATABASE=postgresql, in `make test`).
# Idempotent: does nothing when everything is already installed.
# The tests start their own Dovecot instance; this script never leaves the system
# dovecot service running.
set -euo pipefail

PACKAGE=dovecot-imapd

have_dovecot() {
    command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]
}

have_chromium() {
    [ -x /usr/bin/chromium ]
}

have_postgres() {
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if have_dovecot && command -v systemd-analyze >/dev/null 2>&1 && have_chromium && have_postgres; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: 'dovecot' is not installed; the IMAP tests need it." >&2
    echo "install-test-deps: run as root:  apt-get install -y --no-install-recommends $PACKAGE" >&2
    echo "install-test-deps: (or run this script with sudo: sudo bash scripts/install-test-deps.sh)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Keep the package's maintainer scripts from starting the system service.
# A policy-rc.d that already exists (e.g. in Docker images) is left alone.
POLICY=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
    if [ "$created_policy" = 1 ]; then
        rm -f "$POLICY"
    fi
}
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# temporary, from install-test-deps.sh\nexit 101\n' >"$POLICY"
    chmod 0755 "$POLICY"
    created_policy=1
fi

# apt-get update only when the package lists do not know the package yet.
if ! apt-cache show "$PACKAGE" >/dev/null 2>&1 || ! apt-cache show chromium >/dev/null 2>&1; then
    apt-get update
fi
# systemd provides systemd-analyze, which verifies the unit files in tests/test_systemd.py.
# chromium (about 120 MB) for the web desk's end-to-end tests.
# postgresql: tests/test_postgres.py and PARTNERSHIPS_TEST_DATABASE=postgresql start a throw-away cluster
# (initdb + pg_ctl as the postgres user); the policy-rc.d above keeps the system cluster from starting.
PACKAGES="$PACKAGE systemd chromium postgresql"
if ! apt-get install -y --no-install-recommends $PACKAGES; then
    # Stale package lists (404 for an old version): refresh once and retry.
    apt-get update
    apt-get install -y --no-install-recommends $PACKAGES
fi

# Make sure no system-wide Dovecot is left running or enabled at boot: tests run
# their own instance on a free loopback port.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl stop dovecot.service dovecot.socket >/dev/null 2>&1 || true
    systemctl disable dovecot.service dovecot.socket >/dev/null 2>&1 || true
else
    if [ -x /etc/init.d/dovecot ]; then
        /etc/init.d/dovecot stop >/dev/null 2>&1 || true
    fi
    # No running systemd (container): remove the boot-time enablement offline.
    if command -v deb-systemd-helper >/dev/null 2>&1; then
        deb-systemd-helper disable dovecot.service dovecot.socket >/dev/null 2>&1 || true
    fi
fi
if command -v update-rc.d >/dev/null 2>&1 && [ -x /etc/init.d/dovecot ]; then
    update-rc.d dovecot disable >/dev/null 2>&1 || true
fi
if [ -f /run/dovecot/master.pid ]; then
    pid=$(cat /run/dovecot/master.pid 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
    fi
fi

# The package creates a "main" cluster; the tests never use it, so it must not run.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl stop postgresql.service >/dev/null 2>&1 || true
    systemctl disable postgresql.service >/dev/null 2>&1 || true
fi

if ! have_dovecot; then
    echo "install-test-deps: $PACKAGE installed but 'dovecot' is still not found" >&2
    exit 1
fi
if ! have_chromium; then
    echo "install-test-deps: chromium installed but /usr/bin/chromium is still not found" >&2
    exit 1
fi
echo "install-test-deps: installed $PACKAGE ($(dovecot --version 2>/dev/null || /usr/sbin/dovecot --version))"
