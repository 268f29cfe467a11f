#!/bin/sh
# AfterInstall: the binary must be executable whatever the archive kept.
set -e
chmod 755 "$INSTANCE_ROOT/opt/go-service/app"
