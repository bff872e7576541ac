-- A venue's batch writes its cleared trades in one statement with ids drawn beforehand (the
-- clearing-fee journals, posted first, are keyed by trade id), so the registry may draw them.
GRANT USAGE ON SEQUENCE cch.trade_trade_id_seq TO cch_writer;
