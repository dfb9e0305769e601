#!/usr/bin/env bash
# The cold tier test over zstd NDJSON segments (format: ndjson).
COLD_FORMAT=ndjson exec bash "$(dirname "$0")/test_cold.sh" "$@"
