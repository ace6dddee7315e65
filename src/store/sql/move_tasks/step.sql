with task as materialized (
    select id, source_queue_id, destination_queue_id, last_row_id from move_tasks
    where id = $1 and status = 'running' for update),
picked as materialized (
    select m.id, coalesce((select destination_queue_id from task), m.source_queue_id)
           as dest
    from messages m
    where m.queue_id = (select source_queue_id from task)
      and m.id <= (select last_row_id from task)
      and exists (select 1 from queues q where q.id =
          coalesce((select destination_queue_id from task), m.source_queue_id))
    order by m.sent_at, m.id limit $2
    for no key update of m skip locked),
gone as (
    delete from messages m using picked p
    where m.id = any(array(select id from picked)) and m.id = p.id
    returning m.id, p.dest, m.sent_at, m.message_id, m.body, m.attributes, m.group_id,
              m.dedup_id),
arrived as (
    insert into messages (queue_id, visible_at, sent_at, message_id, body, attributes,
                          group_id, dedup_id)
    select dest, now(), sent_at, message_id, body, attributes, group_id, dedup_id
    from (select * from gone order by id) g
    returning queue_id, group_id),
fifo_arrived as (
    insert into fifo_groups as f (queue_id, group_id, ready_at)
    select queue_id, group_id, now() from arrived where group_id is not null
    group by queue_id, group_id order by queue_id, group_id collate "C"
    on conflict (queue_id, group_id) do update
        set ready_at = case when f.ready_at = 'infinity' then excluded.ready_at
                            else f.ready_at end),
progress as (select count(*) as n, coalesce(array_agg(distinct queue_id), '{}') as dests
             from arrived),
outcome as (
    select case
        when progress.n > 0 then 'running'
        when not exists (select 1 from messages m
                         where m.queue_id = task.source_queue_id
                           and m.id <= task.last_row_id) then 'completed'
        when not exists (select 1 from messages m
                         where m.queue_id = task.source_queue_id
                           and m.id <= task.last_row_id
                           and exists (select 1 from queues q where q.id =
                               coalesce(task.destination_queue_id, m.source_queue_id)))
             then 'failed'
        else 'running' end as status
    from task, progress)
update move_tasks mt set
    moved = mt.moved + progress.n,
    updated_at = now(),
    status = outcome.status,
    failure_reason = case when outcome.status = 'failed' then
        (select count(*) from messages m
         where m.queue_id = task.source_queue_id and m.id <= task.last_row_id)
        || ' message(s) have no destination queue (their source was deleted)' end
from task, progress, outcome where mt.id = task.id
returning progress.n as "moved_now!", progress.dests as "destinations!", mt.status
