# Helpers for the example appliances' run scripts (busybox sh). Parameters come from
# /run/collective/params.json: every value is a list of strings; maps are k=v&k2=v2 strings with
# percent-encoded keys and values (docs/cvl.md).
PARAMS=/run/collective/params.json

# param NAME: the parameter's values, one per line (nothing when it has none).
param() { jq -r --arg n "$1" '.[$n] // [] | .[]' "$PARAMS"; }

# first NAME [DEFAULT]: the first value of a parameter.
first() { v=$(param "$1" | head -n 1); [ -n "$v" ] && echo "$v" || echo "${2:-}"; }

# field MAPSTRING KEY: one decoded value of a map string.
field() { echo "$1" | tr '&' '\n' | sed -n "s/^$2=//p" | head -n 1 | { read -r v; httpd -d "$v"; }; }

# ready: tell the utility the appliance is ready (the ready-file protocol).
ready() { mkdir -p /run/collective/status && touch /run/collective/status/ready; }

log() { echo "$(date '+%H:%M:%S') $*"; }

# serve COMMAND...: runs the service as a child and stops it on SIGTERM. The run script is PID 1 in
# the appliance, and PID 1 ignores signals it has no handler for: without this, a stop would wait out
# the whole stop timeout and end in SIGKILL.
serve() {
  "$@" &
  child=$!
  trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 0' TERM INT
  wait "$child"
}
