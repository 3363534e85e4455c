-- Version 14: a publication set aside — superseded by a newer version, or cancelled by a
-- withdrawal — will never go out, so the yearly figures no longer count it as due
-- (routed, 应发). From now on the writer that sets one aside takes it off the tallies;
-- this takes off those set aside before.
UPDATE tallies SET routed = tallies.routed - aside.n
FROM (
    SELECT n.publish_day AS day, n.category AS category, d.channel AS channel, COUNT(*) AS n
    FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
    WHERE d.state IN ('superseded', 'cancelled') AND d.purpose = 'publish' AND n.kind = 'notice'
    GROUP BY n.publish_day, n.category, d.channel
) AS aside
WHERE tallies.day = aside.day AND tallies.category = aside.category
  AND tallies.channel = aside.channel;
