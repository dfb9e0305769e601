#!/usr/bin/env bash
# test_parted_cooperative.sh - test_parted_scale.sh with the cooperative-sticky
# assignor: rebalances revoke and assign only the partitions that move, so
# the handoff and the restore run on subsets while the rest keep their state.
STRATEGY=cooperative-sticky exec bash "$(dirname "$0")/test_parted_scale.sh" "$@"
