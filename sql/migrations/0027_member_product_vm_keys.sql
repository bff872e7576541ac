-- settlement.member_product_vm: per run, member, product and kind, the sums of the run's leg marks
-- (settlement.leg_mark). Its member and product come from the legs the run marked, which name
-- existing members and products by their own keys; checking them again row by row cost a run of a
-- million legs (40,000 groups) more than half a second of its marks step. As settlement.leg_mark,
-- it keeps its primary key and drops the foreign keys to cch.member and cch.product (the key to the
-- run stays: one row a run).
ALTER TABLE settlement.member_product_vm DROP CONSTRAINT member_product_vm_member_id_fkey;
ALTER TABLE settlement.member_product_vm DROP CONSTRAINT member_product_vm_product_id_fkey;
