delete from messages where queue_id = $1
