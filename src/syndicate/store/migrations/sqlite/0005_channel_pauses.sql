-- Version 5: channels an operator paused; the worker starts no delivery there until resumed.
CREATE TABLE pauses (
    channel   TEXT PRIMARY KEY,
    paused_at REAL NOT NULL,
    paused_by TEXT
);
