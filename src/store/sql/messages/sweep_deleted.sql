with forgotten as (
    delete from deleted_queues where deleted_at < now() - interval '1 hour'),
orphans as materialized (
    select o.id from deleted_queues d cross join lateral (
        select m.id from messages m where m.queue_id = d.id limit $1
        for update skip locked) o)
delete from messages m where m.id = any(array(select id from orphans))
