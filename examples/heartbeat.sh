#!/bin/sh
# A cron-style job that checks in with Upstate's `heartbeat` push monitor every minute.
# In production this is one crontab line:
#   * * * * * curl -fsS -m 10 --retry 3 http://127.0.0.1:8080/ping/<token> >/dev/null
# Report a failure with /ping/<token>/fail, or the exit status with /ping/<token>/$?.
URL=${UPSTATE_PING_URL:-http://127.0.0.1:${UPSTATE_PORT:-8080}/ping/example-heartbeat-0123456789}
sleep 3  # let the server start
while :; do
  python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)" "$URL" \
    2>/dev/null || echo "heartbeat: $URL did not answer" >&2
  sleep 60
done
