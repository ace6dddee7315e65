-- Regions are namespaces on the SQS door: the same queue name in two regions is two queues.
--
-- An account's queues in its default region (the native API's, and every queue that existed
-- before this migration) stay under the account itself. Its queues in any other region live
-- under a hidden namespace row of `accounts` made on first use, so the engine, which keys
-- queues by (account, name), needs no region: (namespace, name) is (account, region, name).
alter table accounts
    add column parent_id bigint references accounts (id) on delete cascade,
    add column region text,
    add constraint accounts_namespace_region check ((parent_id is null) = (region is null));

-- Namespaces take ids above the 12-digit account ids, so they never collide with one.
alter table accounts drop constraint accounts_id_check,
    add constraint accounts_id_check
        check (id between 0 and 999999999999 or (parent_id is not null and id > 999999999999));

create unique index accounts_parent_region on accounts (parent_id, region)
    where parent_id is not null;

create sequence region_namespace_ids start with 1000000000000;
