-- Version 10: the ledger's other facts join the hash chain — the rules a notice broke in
-- warn mode, the operations made through the API, API tokens created and revoked, channels
-- paused and resumed. A ledger upgraded to this version has these rows chained as they stand.
-- Warnings and operations are appended, never changed.
CREATE FUNCTION syndicate_facts_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER notice_warnings_append_only BEFORE UPDATE OR DELETE ON notice_warnings
    FOR EACH ROW EXECUTE PROCEDURE syndicate_facts_append_only();
CREATE TRIGGER operations_append_only BEFORE UPDATE OR DELETE ON operations
    FOR EACH ROW EXECUTE PROCEDURE syndicate_facts_append_only();
