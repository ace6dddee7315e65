with s as (
    select t.queue_id, t.group_id,
           (select max(m.visible_at) filter (where m.receive_count > 0 and m.visible_at > now())
            from messages m
            where m.queue_id = t.queue_id and m.group_id = t.group_id
              and m.group_id is not null and m.id <= t.through) as inflight_until,
           (select m.visible_at from messages m
            where m.queue_id = t.queue_id and m.group_id = t.group_id and m.group_id is not null
            order by m.id limit 1) as head_at
    from (select u.queue_id, u.group_id,
                 (select g.delivered_through from fifo_groups g
                  where g.queue_id = u.queue_id and g.group_id = u.group_id) as through
          from unnest($1::bigint[], $2::text[]) as u(queue_id, group_id)) t),
gone as (
    delete from fifo_groups f using s
    where f.queue_id = s.queue_id and f.group_id = s.group_id and s.head_at is null)
update fifo_groups f set ready_at = coalesce(s.inflight_until, s.head_at)
from s where f.queue_id = s.queue_id and f.group_id = s.group_id and s.head_at is not null
