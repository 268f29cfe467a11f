#!/bin/sh
# ApplicationStart: start the service in the background. Its output goes to
# a log file: a background process that kept the hook's output open would
# make the hook fail. The service listens on $PORT when the instance sets
# it, else on 8000.
set -e
dir="$INSTANCE_ROOT/var/lib/go-service"
"$INSTANCE_ROOT/opt/go-service/app" >>"$INSTANCE_ROOT/var/log/go-service.log" 2>&1 </dev/null &
echo $! >"$dir/pid"
