insert into move_tasks (id, account_id, source_queue_id,
    destination_queue_id, max_per_second, last_row_id, to_move)
select $1, $2, $3, $4, $5, coalesce(max(id), 0), count(*)
from messages where queue_id = $3
having not exists (select 1 from move_tasks where source_queue_id = $3
                   and status = 'running')
returning id
