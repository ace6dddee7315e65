select count(*) filter (where visible_at <= now()),
       count(*) filter (where visible_at > now() and receive_count > 0),
       count(*) filter (where visible_at > now() and receive_count = 0),
       min(sent_at)
from messages where queue_id = $1
