#!/bin/sh
# BeforeInstall: make the directories the service keeps its state and log in.
set -e
mkdir -p "$INSTANCE_ROOT/var/lib/go-service" "$INSTANCE_ROOT/var/log"
