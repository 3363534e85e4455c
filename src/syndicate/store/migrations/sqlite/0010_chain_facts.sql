-- Version 10: the ledger's other facts join the hash chain — the rules a notice broke in
-- warn mode, the operations made through the API, API tokens created and revoked, channels
-- paused and resumed. A ledger upgraded to this version has these rows chained as they stand.
-- Warnings and operations are appended, never changed.
CREATE TRIGGER notice_warnings_no_update BEFORE UPDATE ON notice_warnings
BEGIN SELECT RAISE(ABORT, 'notice warnings are append-only'); END;
CREATE TRIGGER notice_warnings_no_delete BEFORE DELETE ON notice_warnings
BEGIN SELECT RAISE(ABORT, 'notice warnings are append-only'); END;
CREATE TRIGGER operations_no_update BEFORE UPDATE ON operations
BEGIN SELECT RAISE(ABORT, 'operations are append-only'); END;
CREATE TRIGGER operations_no_delete BEFORE DELETE ON operations
BEGIN SELECT RAISE(ABORT, 'operations are append-only'); END;
