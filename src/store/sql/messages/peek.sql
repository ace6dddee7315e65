select message_id, receive_count, sent_at, first_received_at,
       visible_at, now() as "now!", body, attributes::text as attributes
from messages where queue_id = $1 order by sent_at, id limit $2
