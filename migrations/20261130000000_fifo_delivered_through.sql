-- FIFO groups remember where their in-flight messages end, so recomputing a group reads its
-- in-flight messages and its head instead of a fixed stretch of its head.
--
-- A group's in-flight messages all come from one claim: a group is not ready (so not claimed)
-- while any of its messages is in flight, and a claim delivers a prefix of the group's
-- messages. `delivered_through` is the id of the last message the group's latest delivering
-- claim handed out (null: none yet). Every in-flight message of the group has an id at most
-- that: messages arriving later (sends, dead-letter moves, redrives) take new, larger ids.
-- A recompute takes the in-flight batch's end from the messages up to `delivered_through`
-- (at most one claim's, 100) and the head from the group's first message.
alter table fifo_groups add column delivered_through bigint;

-- Groups with messages in flight now: the last in-flight message among the first 101 (the
-- bound recomputes used so far; one claim delivers at most 100 messages of a group).
update fifo_groups f set delivered_through = (
    select max(p.id) from (
        select m.id, m.visible_at, m.receive_count from messages m
        where m.queue_id = f.queue_id and m.group_id = f.group_id and m.group_id is not null
        order by m.id limit 101) p
    where p.receive_count > 0 and p.visible_at > now())
where f.ready_at > now();
