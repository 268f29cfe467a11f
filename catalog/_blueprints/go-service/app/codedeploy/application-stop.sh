#!/bin/sh
# ApplicationStop: stop the service the previous deployment started. (It
# runs from the previous revision, and not at all on an instance's first
# deployment.) The pid file says which process it is, so nothing else with
# the same name is touched.
pidfile="$INSTANCE_ROOT/var/lib/go-service/pid"
[ -f "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
if kill "$pid" 2>/dev/null; then
  # The service finishes its requests on SIGTERM; give it 10 s, then end it.
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 500 ]; then
      kill -9 "$pid" 2>/dev/null
      break
    fi
    sleep 0.02
  done
fi
rm -f "$pidfile"
