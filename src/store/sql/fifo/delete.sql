with m as materialized (
    select queue_id, group_id from messages where id = any($1::bigint[])
),
k as (
    select array_agg(queue_id order by queue_id, group_id collate "C") as queues,
           array_agg(group_id order by queue_id, group_id collate "C") as groups
    from (select distinct queue_id, group_id from m) d
),
locked as materialized (
    select f.queue_id, f.group_id, f.version, f.delivered_through
    from k
    cross join lateral unnest(k.queues, k.groups) as u(queue_id, group_id)
    cross join lateral (
        select g.queue_id, g.group_id, g.xmin as version, g.delivered_through
        from fifo_groups g
        where g.queue_id = u.queue_id and g.group_id = u.group_id
        for no key update) f
    where (select set_config('synchronous_commit',
                             coalesce($3::text, current_setting('synchronous_commit')), true))
          is not null
),
gone as (
    delete from messages m
    using unnest($1::bigint[], $2::int[]) as h(id, generation)
    where m.id = any($1::bigint[]) and m.id = h.id and m.receive_count = h.generation
      and m.visible_at > now()
      and (select count(*) from locked) >= 0
    returning m.id, m.receive_count as generation),
s as (
    select l.queue_id, l.group_id,
           l.version = (select g.xmin from fifo_groups g
                        where g.queue_id = l.queue_id and g.group_id = l.group_id) as current,
           (select max(m.visible_at) filter (where m.receive_count > 0 and m.visible_at > now())
            from messages m
            where m.queue_id = l.queue_id and m.group_id = l.group_id
              and m.group_id is not null and m.id <= l.delivered_through
              and m.id <> all(array(select id from gone))) as inflight_until,
           (select m.visible_at from messages m
            where m.queue_id = l.queue_id and m.group_id = l.group_id and m.group_id is not null
              and m.id <> all(array(select id from gone))
            order by m.id limit 1) as head_at
    from locked l),
emptied as (
    delete from fifo_groups f using s
    where f.queue_id = s.queue_id and f.group_id = s.group_id
      and s.current is true and s.head_at is null),
settled as (
    update fifo_groups f
    set ready_at = case when s.current is true then coalesce(s.inflight_until, s.head_at)
                        else now() end
    from s
    where f.queue_id = s.queue_id and f.group_id = s.group_id
      and (s.current is not true or s.head_at is not null))
select id as "id!", generation as "generation!" from gone
