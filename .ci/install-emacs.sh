#!/usr/bin/env bash
# Install Emacs >= 30 (eglot built in) for tests/editors/test_emacs.py.
#
# Idempotent: does nothing when `emacs --version` already reports >= 30.
# On Debian 12 (bookworm) main only has Emacs 28.2 (no built-in eglot), so this
# adds the bookworm-backports suite (same mirror and keyring as the machine's
# debian.sources, in a file of its own) and installs emacs-nox 30.x from it.
# On a newer Debian (trixie has 30.1) the plain candidate is used.
# Non-interactive; exits non-zero with a message saying what failed.
#
# Usage: bash .ci/install-emacs.sh        (root, or a user with sudo)
set -euo pipefail

MIN_MAJOR=30
SRC_FILE=/etc/apt/sources.list.d/deepseek-ls-bookworm-backports.sources

say() { echo "install-emacs: $*"; }
die() { echo "install-emacs: ERROR: $*" >&2; exit 1; }

emacs_major() {
    command -v emacs >/dev/null 2>&1 || { echo 0; return; }
    emacs --version 2>/dev/null | sed -n '1s/^GNU Emacs \([0-9][0-9]*\).*/\1/p' | grep . || echo 0
}

have=$(emacs_major)
if [ "$have" -ge "$MIN_MAJOR" ]; then
    say "already installed: $(emacs --version | head -n1)"
    exit 0
fi
[ "$have" -gt 0 ] && say "found Emacs $have (< $MIN_MAJOR); installing a newer one"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot run apt-get"
    SUDO="sudo -n"
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script only knows Debian; install Emacs >= $MIN_MAJOR by hand"

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

codename=""
[ -r /etc/os-release ] && codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

if [ "$codename" = "bookworm" ]; then
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        # Reuse the mirror and keyring of the machine's own bookworm entry.
        uri=$(awk '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i=="bookworm" && u){print u; exit}}' \
              /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
        [ -n "$uri" ] || uri=$(awk '$1=="deb" && $3=="bookworm"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
        [ -n "$uri" ] || uri=http://deb.debian.org/debian
        key=/usr/share/keyrings/debian-archive-keyring.gpg
        [ -r "$key" ] || die "$key missing (package debian-archive-keyring)"
        say "adding bookworm-backports ($uri) in $SRC_FILE"
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
            "$uri" "$key" | $SUDO tee "$SRC_FILE" >/dev/null || die "cannot write $SRC_FILE"
    fi
    say "apt-get update"
    $SUDO apt-get update -q >/dev/null || die "apt-get update failed (is the Debian mirror reachable?)"
    say "apt-get install -t bookworm-backports emacs-nox"
    $SUDO apt-get install "${APT_OPTS[@]}" -t bookworm-backports emacs-nox \
        || die "apt-get install -t bookworm-backports emacs-nox failed"
else
    say "apt-get update"
    $SUDO apt-get update -q >/dev/null || die "apt-get update failed (is the Debian mirror reachable?)"
    cand=$(apt-cache policy emacs-nox 2>/dev/null | awk '/Candidate:/{print $2}')
    say "emacs-nox candidate on '${codename:-unknown}': ${cand:-none}"
    $SUDO apt-get install "${APT_OPTS[@]}" emacs-nox || die "apt-get install emacs-nox failed"
fi

hash -r
have=$(emacs_major)
[ "$have" -ge "$MIN_MAJOR" ] || die "after install, emacs reports major version $have (< $MIN_MAJOR)"
emacs -Q --batch --eval '(progn (require (quote eglot)) (princ (format "eglot %s\n" (or (bound-and-true-p eglot-version) "built in"))))' \
    || die "Emacs $have installed but (require 'eglot) fails"
say "ok: $(emacs --version | head -n1)"
