-- Version 13: GET /v1/notices?text= (title or project code) found from an index, not a scan.
-- The project code, read from the canonical JSON when asked for: nothing stored, nothing to fill.
ALTER TABLE notices ADD COLUMN project_code TEXT
    GENERATED ALWAYS AS (json_extract(content, '$.project_code')) VIRTUAL;
-- Titles and project codes by trigram (FTS5): any three or more characters in a row are looked
-- up in the index. It keeps no copy of the text, only the index; triggers keep it in step.
CREATE VIRTUAL TABLE notice_text USING fts5(
    title, project_code, content = 'notices', content_rowid = 'pk', tokenize = 'trigram'
);
INSERT INTO notice_text (notice_text) VALUES ('rebuild');
CREATE TRIGGER notice_text_insert AFTER INSERT ON notices BEGIN
    INSERT INTO notice_text (rowid, title, project_code)
    VALUES (new.pk, new.title, new.project_code);
END;
CREATE TRIGGER notice_text_delete AFTER DELETE ON notices BEGIN
    INSERT INTO notice_text (notice_text, rowid, title, project_code)
    VALUES ('delete', old.pk, old.title, old.project_code);
END;
CREATE TRIGGER notice_text_update AFTER UPDATE OF title, content ON notices BEGIN
    INSERT INTO notice_text (notice_text, rowid, title, project_code)
    VALUES ('delete', old.pk, old.title, old.project_code);
    INSERT INTO notice_text (rowid, title, project_code)
    VALUES (new.pk, new.title, new.project_code);
END;
