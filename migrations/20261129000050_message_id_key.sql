-- Messages are keyed by their row id alone.
--
-- Every statement that touches messages it already knows (the claim's update and dead-letter
-- delete, deletes and visibility changes by receipt handle, redrive moves, retention sweeps)
-- now finds them through this key with `id = any(<ids in hand>)`. With the old key
-- `(queue_id, id)` and `queue_id = $1` in the same WHERE clause, a queue id missing from the
-- planner's statistics (a new queue, or one that was small at the last ANALYZE) was estimated
-- at one row, and the planner drove those statements from every row of the queue instead of
-- from the ids: 270 ms per claim at a 10 000-message backlog. Row ids come from one identity
-- sequence, so they are unique across queues on their own.
alter table messages drop constraint messages_pkey;
alter table messages add constraint messages_pkey primary key (id);
