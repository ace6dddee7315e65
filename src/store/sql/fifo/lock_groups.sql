select f.group_id from fifo_groups f
where f.queue_id = $1 and f.group_id = any(array(
    select group_id from messages where id = any($2::bigint[])))
order by f.group_id collate "C"
for no key update
