#!/usr/bin/env bash
# Fan-out with curl and jq on Spool's REST API. Six posts go to a queue; a worker fans each one
# out to three followers' timelines and deletes it. Post 5 is broken: its worker never deletes
# it, so it comes back after the 1 s visibility timeout and, on its third receive, moves to the
# dead-letter queue. After the fix, a redrive brings it back and it goes through.
#
#     SPOOL_URL=http://127.0.0.1:9324 SPOOL_TOKEN=... bash fanout.sh
#
# Exits non-zero if a timeline entry is lost or written twice.
set -euo pipefail
Q=sh$$ SPOOL=${SPOOL_URL:-http://127.0.0.1:9324}/v1/queues
api() { curl -sS --fail-with-body -H "authorization: Bearer $SPOOL_TOKEN" -H 'content-type: application/json' "$SPOOL$1" "${@:2}"; }
deadline() { [[ $SECONDS -lt 30 ]] || { echo "FAILED: timed out" >&2; exit 1; }; }

api "" -d "{\"name\": \"$Q-dlq\"}" >/dev/null
api "" -d "{\"name\": \"$Q-posts\", \"visibility_timeout\": 1, \"dead_letter\": {\"queue\": \"$Q-dlq\", \"max_receive_count\": 2}}" >/dev/null
api "" -d "{\"name\": \"$Q-timeline\"}" >/dev/null
api /$Q-posts/messages -d "$(jq -nc '{messages: [range(6) | {id: "p\(.)", body: "\(.)"}]}')" >/dev/null
echo "produced: 6 posts"

# A worker round: a long poll for posts; each one (but post $1) goes out as one batch to the
# timeline queue, then is deleted. Post $1 is not deleted, so it returns after the timeout.
work() {
    api /$Q-posts/messages/receive -d '{"max_messages": 10, "wait_seconds": 1}' |
        jq -c --arg failing "$1" '.messages[] | select(.body != $failing)' |
        while read -r message; do
            api /$Q-timeline/messages -d "$(jq -c '{messages: [range(3) as $f | {id: "f\($f)", body: "post \(.body) for follower \($f)"}]}' <<<"$message")" >/dev/null
            api /$Q-posts/messages/delete -d "$(jq -c '{receipt_handle}' <<<"$message")" >/dev/null
        done
}
until [[ $(api /$Q-dlq | jq .counts.visible) == 1 ]]; do work 5; deadline; done
echo "dead-lettered: 1 post after 2 failed tries"

task=$(api /$Q-dlq/redrive -d '{}' | jq -r .id)   # the fix is deployed: move post 5 back
until [[ $(api /$Q-dlq/redrive/$task | jq -r .status) == completed ]]; do sleep 0.2; deadline; done
echo "redriven: 1 post"
work none

# The timeline consumer: receives up to 100 entries at a time and deletes them in one batch.
delivered=""
while received=$(api /$Q-timeline/messages/receive -d '{"max_messages": 100, "wait_seconds": 1}') &&
    [[ $(jq '.messages | length' <<<"$received") -gt 0 ]]; do
    delivered+=$(jq -r '.messages[].body' <<<"$received")$'\n'
    api /$Q-timeline/messages/delete -d "$(jq -c '{entries: [.messages[] | {id: .message_id, receipt_handle}]}' <<<"$received")" >/dev/null
done
for queue in posts timeline dlq; do api /$Q-$queue -X DELETE; done

entries=$(sort <<<"${delivered%$'\n'}")
echo "delivered: $(wc -l <<<"$entries") timeline entries, $(uniq -d <<<"$entries" | wc -l) twice"
[[ $(sort -u <<<"$entries" | wc -l) -eq 18 && -z $(uniq -d <<<"$entries") ]] || { echo "FAILED: expected 18 distinct entries" >&2; exit 1; }
echo "ok: nothing lost, nothing processed twice"
