-- Version 16: which deliveries were read back lately (fetch-back's due check) from the
-- checks of the last interval alone, not from every check ever chained: the chain grows by
-- a check per delivery per interval for as long as fetch-back runs. Only check links are
-- in the index, so the worker's attempt links do not write to it.
CREATE INDEX IF NOT EXISTS chain_checks ON chain (at) WHERE kind = 'check';
