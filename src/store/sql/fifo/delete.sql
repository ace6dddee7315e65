with gone as (
    delete from messages m
    using unnest($1::bigint[], $2::int[]) as h(id, generation)
    where m.id = any($1::bigint[]) and m.id = h.id and m.receive_count = h.generation
      and m.visible_at > now()
    returning m.id, m.receive_count as generation),
s as (
    select t.queue_id, t.group_id,
           (select max(m.visible_at) filter (where m.receive_count > 0 and m.visible_at > now())
            from messages m
            where m.queue_id = t.queue_id and m.group_id = t.group_id
              and m.group_id is not null and m.id <= t.through
              and m.id <> all(array(select id from gone))) as inflight_until,
           (select m.visible_at from messages m
            where m.queue_id = t.queue_id and m.group_id = t.group_id and m.group_id is not null
              and m.id <> all(array(select id from gone))
            order by m.id limit 1) as head_at
    from (select u.queue_id, u.group_id,
                 (select g.delivered_through from fifo_groups g
                  where g.queue_id = u.queue_id and g.group_id = u.group_id) as through
          from unnest($3::bigint[], $4::text[]) as u(queue_id, group_id)) t),
emptied as (
    delete from fifo_groups f using s
    where f.queue_id = s.queue_id and f.group_id = s.group_id and s.head_at is null),
recomputed as (
    update fifo_groups f set ready_at = coalesce(s.inflight_until, s.head_at)
    from s
    where f.queue_id = s.queue_id and f.group_id = s.group_id and s.head_at is not null)
select id as "id!", generation as "generation!" from gone
