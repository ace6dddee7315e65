insert into fifo_dedup as f
    (queue_id, scope, dedup_id, message_id, sequence_number, expires_at)
select q, s, d, m, 0, now() + make_interval(secs => $5::int)
from unnest($1::bigint[], $2::text[], $3::text[], $4::uuid[]) as t(q, s, d, m)
on conflict (queue_id, scope, dedup_id) do update
    set message_id = excluded.message_id, sequence_number = 0,
        expires_at = excluded.expires_at
    where f.expires_at <= now()
returning queue_id, scope, dedup_id
