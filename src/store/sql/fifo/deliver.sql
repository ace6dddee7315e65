update messages m set visible_at = now() + make_interval(secs => $2::int),
    receive_count = m.receive_count + 1,
    first_received_at = coalesce(m.first_received_at, now())
where m.id = any($1::bigint[])
returning m.id, m.message_id, m.receive_count, m.sent_at, m.first_received_at,
          m.source_queue_id, m.body, m.attributes::text as attributes, m.group_id, m.dedup_id
