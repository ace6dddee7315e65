-- Deleting a queue that other queues use as their dead-letter queue, or that a move task moves
-- messages into, must succeed through every door (SQS DeleteQueue, native DELETE).
--
-- The foreign key's `on delete set null` cleared `dead_letter_queue_id` alone and left
-- `max_receive_count`, which the check `queues_dead_letter_pair` refuses, so the delete rolled
-- back. A move task's row was cascaded away with its destination, so the task vanished instead
-- of failing. A trigger that runs before the row goes detaches both in the same transaction.

-- A move task whose destination was deleted keeps the destination's name for listings.
alter table move_tasks add column destination_name text;

-- The task outlives its destination (the trigger marks it failed first).
alter table move_tasks drop constraint move_tasks_destination_queue_id_fkey,
    add constraint move_tasks_destination_queue_id_fkey foreign key (destination_queue_id)
        references queues (id) on delete set null;

create function queues_detach_before_delete() returns trigger language plpgsql as $$
begin
    -- Sources stop dead-lettering: their redrive policy is removed as a whole.
    update queues set dead_letter_queue_id = null, max_receive_count = null, updated_at = now()
    where dead_letter_queue_id = old.id and id <> old.id;
    -- Tasks moving into the queue fail, with the reason AWS gives; finished tasks keep their
    -- history.
    update move_tasks set
        status = case when status = 'running' then 'failed' else status end,
        failure_reason = case when status = 'running'
            then 'AWS.SimpleQueueService.NonExistentQueue' else failure_reason end,
        destination_name = old.name,
        destination_queue_id = null,
        updated_at = now()
    where destination_queue_id = old.id;
    return old;
end;
$$;

create trigger queues_detach_before_delete before delete on queues
    for each row execute function queues_detach_before_delete();
