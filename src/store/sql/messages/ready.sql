select count(*) as "ready!" from (
    select 1 from messages
    where queue_id = $1 and visible_at <= now()
    order by visible_at, id limit $2
) ready
