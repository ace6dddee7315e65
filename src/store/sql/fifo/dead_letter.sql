with dead as (
    delete from messages where id = any($2::bigint[])
    returning id, receive_count, first_received_at, message_id, body, attributes,
              group_id, dedup_id),
groups as (
    insert into fifo_groups as f (queue_id, group_id, ready_at)
    select $3::bigint, group_id, now() from dead
    group by group_id order by group_id collate "C"
    on conflict (queue_id, group_id) do update
        set ready_at = case when f.ready_at = 'infinity' then excluded.ready_at
                            else f.ready_at end
    returning group_id)
insert into messages (queue_id, visible_at, receive_count, sent_at, first_received_at,
                      message_id, source_queue_id, body, attributes, group_id, dedup_id)
select $3, now(), d.receive_count, now(), d.first_received_at, d.message_id, $1, d.body,
       d.attributes, d.group_id, d.dedup_id
from (select dead.* from dead join groups using (group_id) order by dead.id) d
