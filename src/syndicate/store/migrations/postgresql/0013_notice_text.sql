-- Version 13: GET /v1/notices?text= (title or project code) without parsing every notice's JSON.
-- The project code, kept beside the canonical JSON it is read from.
ALTER TABLE notices ADD COLUMN project_code text
    GENERATED ALWAYS AS (content::json ->> 'project_code') STORED;
-- A trigram index on both, where the pg_trgm extension is installed in this database: a
-- substring of three or more characters is then found from the index. No extension is
-- required (openGauss, KingbaseES): without it the search reads the two columns of each
-- notice, newest first, until a page is full. Installed later, the index is made by hand:
--   CREATE INDEX notices_text_trgm ON notices
--       USING gin (title gin_trgm_ops, project_code gin_trgm_ops);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX notices_text_trgm ON notices USING gin '
             || '(title gin_trgm_ops, project_code gin_trgm_ops)';
    END IF;
END
$$;
