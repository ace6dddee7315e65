with picked as materialized (
    select id, receive_count from messages
    where queue_id = $1 and visible_at <= now()
      and (select set_config('synchronous_commit',
                             coalesce($6::text, current_setting('synchronous_commit')), true))
          is not null
    order by visible_at, id limit $2
    for no key update skip locked),
dead as (
    delete from messages m
    where m.id = any(array(select id from picked where receive_count >= $4))
    returning m.receive_count, m.sent_at, m.first_received_at, m.message_id, m.body,
              m.attributes),
moved as (
    insert into messages (queue_id, visible_at, receive_count, sent_at,
                          first_received_at, message_id, source_queue_id, body, attributes)
    select $5, now(), receive_count, sent_at, first_received_at, message_id, $1, body,
           attributes from dead),
claimed as (
    update messages m
    set visible_at = now() + make_interval(secs => $3::int),
        receive_count = m.receive_count + 1,
        first_received_at = coalesce(m.first_received_at, now())
    where m.id = any(array(select id from picked
                           where $4::int is null or receive_count < $4))
    returning m.id, m.message_id, m.receive_count, m.sent_at, m.first_received_at,
              m.source_queue_id, m.body, m.attributes::text as attributes)
select c.id as "id?", c.message_id as "message_id?", c.receive_count as "receive_count?",
       c.sent_at as "sent_at?", c.first_received_at, c.source_queue_id, c.body as "body?",
       c.attributes, d.dead_lettered as "dead_lettered!"
from (select count(*) as dead_lettered from dead) d
left join claimed c on true
