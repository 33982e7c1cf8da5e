#!/usr/bin/env bash
# The main job of the README, on a fresh machine: install, build, then show Collective at work on the
# examples. What it shows grows with the project; today: CVL checking and evaluation of the paper's
# Groupware network (Figures 1-3 and the AcmeGroupware user file of section 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cui() { node bin/cui.js "$@"; }

echo
echo "== cui check: every example file =="
cui check examples/paper/acme.cvl examples/paper/*/*.cvl

echo
echo "== cui eval: the AcmeGroupware network (addresses are pending until 'cui start' allocates them) =="
cui eval examples/paper/acme.cvl
