select count(*) filter (where visible_at <= now()) as "visible!",
       count(*) filter (where visible_at > now() and receive_count > 0) as "in_flight!",
       count(*) filter (where visible_at > now() and receive_count = 0) as "delayed!",
       min(sent_at) as oldest_sent_at
from messages where queue_id = $1
