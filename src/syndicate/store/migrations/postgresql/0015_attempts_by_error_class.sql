-- Version 15: the attempt log filtered by error class (GET /v1/attempts?error_class=…, the
-- dashboard's attempt filter), newest first, without walking the log back until a page is
-- full. Only attempts that failed carry an error class, so the index holds a few percent
-- of the rows and a delivered attempt's write does not touch it.
CREATE INDEX IF NOT EXISTS attempts_error_class ON attempts (error_class, id) WHERE error_class IS NOT NULL;
