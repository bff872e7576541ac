-- A member's consent to a venue. A venue (an auction, a broker) registers trades cleared at once,
-- without either member affirming them at the clearinghouse, so it may do that only for members
-- that authorised it: a batch's trade naming a member without a live authorisation of that venue
-- is refused (`venue_not_authorised`) and writes nothing. The member (or an operator on its
-- behalf) authorises and revokes; a revocation takes the member's lock, the same one a batch
-- holds while it checks, so no batch that began before a revocation commits after it unseen.
-- One row per member and venue: its current state with who set it and when. Every change is
-- also a request in api.request_log.

CREATE TABLE cch.member_venue (
  member_id          bigint      NOT NULL REFERENCES cch.member (member_id),
  venue_principal_id bigint      NOT NULL REFERENCES api.principal (principal_id),
  authorised_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  authorised_by      text        NOT NULL CHECK (length(authorised_by) BETWEEN 1 AND 64),
  revoked_at         timestamptz,
  revoked_by         text        CHECK (length(revoked_by) BETWEEN 1 AND 64),
  CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)),
  PRIMARY KEY (member_id, venue_principal_id)
);

COMMENT ON TABLE cch.member_venue IS
  'Which venues may register trades for which members; revoked_at set: no longer (a later authorisation clears it).';

GRANT SELECT, INSERT ON cch.member_venue TO cch_writer;
GRANT UPDATE (authorised_at, authorised_by, revoked_at, revoked_by) ON cch.member_venue TO cch_writer;
GRANT SELECT ON cch.member_venue TO cch_reporting, cch_auditor;
