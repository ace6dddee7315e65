with m as materialized (
    select queue_id, group_id from messages where id = any($1::bigint[])
),
k as (
    select array_agg(queue_id order by queue_id, group_id collate "C") as queues,
           array_agg(group_id order by queue_id, group_id collate "C") as groups
    from (select distinct queue_id, group_id from m) d
)
select f.queue_id, f.group_id
from k
cross join lateral unnest(k.queues, k.groups) as u(queue_id, group_id)
cross join lateral (
    select g.queue_id, g.group_id from fifo_groups g
    where g.queue_id = u.queue_id and g.group_id = u.group_id
    for no key update) f
where (select set_config('synchronous_commit',
                         coalesce($2::text, current_setting('synchronous_commit')), true))
      is not null
