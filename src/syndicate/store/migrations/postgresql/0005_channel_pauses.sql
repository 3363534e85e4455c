-- Version 5: channels an operator paused; the worker starts no delivery there until resumed.
CREATE TABLE pauses (
    channel   text PRIMARY KEY,
    paused_at double precision NOT NULL,
    paused_by text
);
