with d as (
    update messages m set visible_at = now() + make_interval(secs => $2::int),
        receive_count = m.receive_count + 1,
        first_received_at = coalesce(m.first_received_at, now())
    where m.id = any($1::bigint[])
    returning m.id, m.message_id, m.receive_count, m.sent_at, m.first_received_at,
              m.source_queue_id, m.body, m.attributes::text as attributes, m.group_id,
              m.dedup_id),
ends as (
    select group_id, max(id) as through from d group by group_id),
groups as (
    update fifo_groups f set ready_at = now() + make_interval(secs => $2::int),
        delivered_through = (select e.through from ends e where e.group_id = f.group_id)
    where f.ctid = any(array(
        select (select g.ctid from fifo_groups g
                where g.queue_id = $3 and g.group_id = e.group_id)
        from ends e)))
select id as "id!", message_id as "message_id!", receive_count as "receive_count!",
       sent_at as "sent_at!", first_received_at, source_queue_id, body as "body!", attributes,
       group_id, dedup_id
from d
