#!/usr/bin/env bash
# Installs the system packages axiom needs to build and test, when they are missing:
#   libz3-dev  the Z3 library the engine links against (in-process solver backend)
#   z3         the z3 binary, for the `z3-process` solver backend and its tests
#   prometheus promtool, which checks the alert rules and a real metrics scrape
#   chromium   headless rendering check of the load tester's HTML report
# Needs root (or sudo) and Debian's package archive; prints what to install otherwise.
set -euo pipefail

# With AXIOM_DEPS=run only what building and running axiom needs is installed (for `make demo`);
# the default also installs what the tests need.
missing=()
[ -e /usr/include/z3.h ] || missing+=(libz3-dev)
command -v z3 >/dev/null 2>&1 || missing+=(z3)
if [ "${AXIOM_DEPS:-test}" != run ]; then
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  if [ "${AXIOM_SKIP_CHROMIUM:-0}" != 1 ]; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing system packages: ${missing[*]}; install them with your package manager (Debian names)." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=sudo; else
    echo "error: missing system packages: ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
echo "installing system packages: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
