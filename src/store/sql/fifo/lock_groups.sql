select f.queue_id, f.group_id
from (select queue_id, group_id from messages where id = any($1::bigint[])
      group by queue_id, group_id) m
join fifo_groups f on f.queue_id = m.queue_id and f.group_id = m.group_id
where (select set_config('synchronous_commit',
                         coalesce($2::text, current_setting('synchronous_commit')), true))
      is not null
order by f.queue_id, f.group_id collate "C"
for no key update of f
