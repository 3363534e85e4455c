-- Version 12: a notice's life after its first publication. A delivery has a purpose
-- (publish, withdrawal, expiry), one of each per notice version and channel; a pending
-- delivery overtaken by a newer version is superseded, one of a withdrawn notice is
-- cancelled; withdrawals are recorded.
ALTER TABLE deliveries ADD COLUMN purpose text NOT NULL DEFAULT 'publish'
    CHECK (purpose IN ('publish', 'withdrawal', 'expiry'));
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'in_flight', 'delivered', 'failed', 'dead',
                     'superseded', 'cancelled'));
ALTER TABLE deliveries DROP CONSTRAINT deliveries_notice_pk_channel_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_notice_pk_channel_purpose_key
    UNIQUE (notice_pk, channel, purpose);
-- Withdrawals and expiries are few beside publications: counted from here, not the tallies.
CREATE INDEX deliveries_follow_up ON deliveries (purpose, state) WHERE purpose <> 'publish';

-- A notice taken back, all its versions: no version is accepted after it.
CREATE TABLE withdrawals (
    id        bigserial PRIMARY KEY,
    notice_id text    NOT NULL UNIQUE,
    version   integer NOT NULL,  -- the newest version when it was withdrawn
    reason    text    NOT NULL,
    at        double precision NOT NULL,
    by        text
);
