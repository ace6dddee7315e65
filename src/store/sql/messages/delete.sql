delete from messages m
using unnest($1::bigint[], $2::int[]) as h(id, generation)
where m.id = any($1::bigint[]) and m.id = h.id and m.receive_count = h.generation
  and (select set_config('synchronous_commit',
                         coalesce($3::text, current_setting('synchronous_commit')), true))
      is not null
returning m.queue_id, m.id
