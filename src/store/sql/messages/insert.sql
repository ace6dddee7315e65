insert into messages (queue_id, visible_at, sent_at, message_id, body, attributes)
select q, now() + make_interval(secs => d), now(), m, b, a::jsonb
from unnest($1::bigint[], $2::int[], $3::uuid[], $4::text[], $5::text[]) as t(q, d, m, b, a)
where (select set_config('synchronous_commit',
                         coalesce($6::text, current_setting('synchronous_commit')), true))
      is not null
