-- The send insert no longer checks a foreign key per message row.
--
-- `messages.queue_id references queues` ran `select 1 from only queues ... for key share` once
-- per inserted row, and every insert transaction took a share lock on its hot queue row (a
-- MultiXact as soon as two flushers insert into one queue at once). The engine only inserts
-- into queues it has just resolved, so the check bought nothing on the hot path. What the key's
-- `on delete cascade` did is done here instead:
-- - deleting a queue (directly, or through its account) deletes its messages in the same
--   transaction, by trigger;
-- - a send that resolved the queue before it was deleted may still commit rows afterwards;
--   the deleted queue's id stays in `deleted_queues` for a while, and the retention sweeper
--   deletes any such rows (`store::messages::SWEEP_DELETED_SQL`). Queue ids come from an
--   identity and are never reused, so no later queue can see them.
alter table messages drop constraint messages_queue_id_fkey;

create table deleted_queues (
    id         bigint primary key,
    deleted_at timestamptz not null default now()
);

create function queues_after_delete() returns trigger language plpgsql as $$
begin
    delete from messages where queue_id = old.id;
    insert into deleted_queues (id) values (old.id) on conflict do nothing;
    return old;
end
$$;

create trigger queues_after_delete after delete on queues
    for each row execute function queues_after_delete();
