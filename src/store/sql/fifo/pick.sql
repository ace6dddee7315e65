with g as materialized (
    select group_id, ready_at from fifo_groups
    where queue_id = $1 and ready_at <= now()
    order by ready_at limit $2
    for no key update skip locked)
select g.ready_at, g.group_id, m.id as "id?", m.receive_count as "receive_count?",
       m.visible_at <= now() as "visible?"
from g left join lateral (
    select id, receive_count, visible_at from messages
    where queue_id = $1 and group_id = g.group_id and group_id is not null
    order by id limit $3) m on true
