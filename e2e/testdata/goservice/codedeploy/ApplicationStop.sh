#!/bin/sh
killall app; exit 0
