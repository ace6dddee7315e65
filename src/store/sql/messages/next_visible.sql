select visible_at from messages
where queue_id = $1 and visible_at > now() order by visible_at, id limit 1
