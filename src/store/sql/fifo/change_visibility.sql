update messages m
set visible_at = now() + make_interval(secs => h.timeout)
from unnest($1::bigint[], $2::int[], $3::int[]) as h(id, generation, timeout)
where m.id = any($1::bigint[]) and m.id = h.id and m.receive_count = h.generation
  and m.visible_at > now()
returning m.id, m.receive_count as generation
