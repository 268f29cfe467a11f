#!/bin/sh
# ValidateService: the deployment succeeds on this instance only once the
# process ApplicationStart started answers on its port. Checking the port
# alone would pass while an old process still held it: the new one, unable
# to listen, exits at once, so it must still be alive a moment after the
# answer. Any of curl, wget or busybox will do.
pidfile="$INSTANCE_ROOT/var/lib/go-service/pid"
log="$INSTANCE_ROOT/var/log/go-service.log"
url="http://127.0.0.1:${PORT:-8000}/version"
fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 2 "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -T 2 -O- "$1"
  else
    busybox wget -q -T 2 -O- "$1"
  fi
}
pid=$(cat "$pidfile") || exit 1
# alive: the process is running; one that has exited and is not yet
# reaped (a zombie, state Z) is not.
alive() {
  if kill -0 "$pid" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    return 0
  fi
  echo "the service (pid $pid) has exited; the end of $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
}
i=0
while [ "$i" -lt 1000 ]; do
  alive
  if version=$(fetch "$url" 2>/dev/null); then
    sleep 0.1
    alive
    echo "the service answers version $version"
    exit 0
  fi
  i=$((i + 1))
  sleep 0.02
done
echo "the service does not answer on $url; see $log" >&2
exit 1
