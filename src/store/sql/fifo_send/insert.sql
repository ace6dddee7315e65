with input as (
    select * from unnest($1::bigint[], $2::int[], $3::uuid[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::text[])
         with ordinality as t(q, d, m, b, a, g, k, s, n)),
seen as materialized (
    select t.n, f.message_id, f.sequence_number
    from input t
    join fifo_dedup f on f.queue_id = t.q and f.scope = t.s and f.dedup_id = t.k
    where f.expires_at > now()),
fresh as materialized (
    select * from input where n <> all(array(select n from seen))),
groups as (
    insert into fifo_groups as f (queue_id, group_id, ready_at)
    select q, g, min(now() + make_interval(secs => d)) from fresh
    where (select set_config('synchronous_commit',
                             coalesce($10::text, current_setting('synchronous_commit')), true))
          is not null
    group by q, g
    order by q, g collate "C"
    on conflict (queue_id, group_id) do update
        set ready_at = case when f.ready_at = 'infinity' then excluded.ready_at
                            else f.ready_at end
    returning queue_id, group_id),
inserted as (
    insert into messages (queue_id, visible_at, sent_at, message_id, body, attributes,
                          group_id, dedup_id)
    select i.q, now() + make_interval(secs => i.d), now(), i.m, i.b, i.a::jsonb, i.g, i.k
    from (select fresh.* from fresh
          join groups on groups.queue_id = fresh.q and groups.group_id = fresh.g
          order by fresh.n) i
    returning id, message_id),
sent as materialized (
    select t.n, t.q, t.s, t.k, i.message_id, i.id
    from inserted i join fresh t on t.m = i.message_id),
noted as (
    insert into fifo_dedup as f
        (queue_id, scope, dedup_id, message_id, sequence_number, expires_at)
    select q, s, k, message_id, id, now() + make_interval(secs => $9::int) from sent
    order by q, s collate "C", k collate "C"
    on conflict (queue_id, scope, dedup_id) do update
        set message_id = excluded.message_id,
            sequence_number = case when f.expires_at <= now() then excluded.sequence_number
                                   else -1 end,
            expires_at = excluded.expires_at)
select n as "n!", message_id as "message_id!", id as "sequence_number!" from sent
union all
select n, message_id, sequence_number from seen
