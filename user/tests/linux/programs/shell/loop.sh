#!/scripts/loop.sh
