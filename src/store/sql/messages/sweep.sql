with expired as materialized (
    select e.id from queues q cross join lateral (
        select m.id from messages m
        where m.queue_id = q.id
          and m.sent_at < now() - make_interval(secs => q.retention_seconds)
        order by m.sent_at, m.id limit $1
        for update skip locked) e)
delete from messages m where m.id = any(array(select id from expired))
