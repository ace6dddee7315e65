update messages m set visible_at = now() + make_interval(secs => $3::int)
from unnest($1::bigint[], $2::int[]) as h(id, generation)
where m.id = any($1::bigint[]) and m.id = h.id and m.receive_count = h.generation
  and m.visible_at > now()
returning m.id, m.message_id, m.receive_count, m.sent_at, m.first_received_at,
          m.source_queue_id, m.body, m.attributes::text as attributes, m.group_id, m.dedup_id
