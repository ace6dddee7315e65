with input as (
    select * from unnest($1::bigint[], $2::int[], $3::uuid[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::text[])
         with ordinality as t(q, d, m, b, a, g, k, s, n)),
groups as (
    insert into fifo_groups as f (queue_id, group_id, ready_at)
    select q, g, min(now() + make_interval(secs => d)) from input group by q, g
    order by q, g collate "C"
    on conflict (queue_id, group_id) do update
        set ready_at = case when f.ready_at = 'infinity' then excluded.ready_at
                            else f.ready_at end
    returning queue_id, group_id),
inserted as (
    insert into messages (queue_id, visible_at, sent_at, message_id, body, attributes,
                          group_id, dedup_id)
    select i.q, now() + make_interval(secs => i.d), now(), i.m, i.b, i.a::jsonb, i.g, i.k
    from (select input.* from input
          join groups on groups.queue_id = input.q and groups.group_id = input.g
          order by input.n) i
    returning queue_id, id, message_id, group_id, dedup_id),
scoped as (
    select i.*, t.s from inserted i
    join input t on t.q = i.queue_id and t.m = i.message_id),
noted as (
    update fifo_dedup f set sequence_number = s.id from scoped s
    where f.queue_id = s.queue_id and f.scope = s.s and f.dedup_id = s.dedup_id)
select queue_id, s as "s!", dedup_id as "dedup_id!", message_id, id from scoped
