with s as (
    select t.queue_id, t.group_id, h.inflight_until, h.head_at
    from unnest($1::bigint[], $2::text[]) as t(queue_id, group_id) cross join lateral (
        select max(p.visible_at) filter (where p.receive_count > 0
                                         and p.visible_at > now()) as inflight_until,
               (array_agg(p.visible_at order by p.id))[1] as head_at
        from (select id, visible_at, receive_count from messages
              where queue_id = t.queue_id and group_id = t.group_id and group_id is not null
              order by id limit $3) p) h),
gone as (
    delete from fifo_groups f using s
    where f.queue_id = s.queue_id and f.group_id = s.group_id and s.head_at is null)
update fifo_groups f set ready_at = coalesce(s.inflight_until, s.head_at)
from s where f.queue_id = s.queue_id and f.group_id = s.group_id and s.head_at is not null
