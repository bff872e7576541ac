#include "cch/ledger/verify.hpp"
#include "cch/ledger/post.hpp"
#include "ledger_fixture.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>

#include <gtest/gtest.h>

namespace {

using namespace cch;
using namespace cch::ledger;
using cch::ledger::testing::LedgerFixture;
using cch::ledger::testing::transfer;

struct Chained {
  LedgerFixture fixture;
  AccountId bank{1};
  AccountId collateral{1};
  std::vector<JournalId> journals;
  Chained() {
    bank = fixture.house_account(AccountKind::settlement_bank);
    collateral = fixture.member_account(fixture.add_member("alpha-labs"), AccountKind::collateral);
    for (int batch = 0; batch < 5; ++batch) {
      std::vector<JournalDraft> drafts;
      for (int i = 0; i < 4; ++i) {
        drafts.push_back(transfer("j-" + std::to_string(batch) + "-" + std::to_string(i), bank, collateral, 10 + i));
      }
      for (const auto& result : ledger::post_batch(*fixture.pool, {}, drafts)) {
        journals.push_back(result->journal_id);
      }
    }
  }
  VerifyReport verify(const std::map<int, ChainCheckpoint>& from = {}) {
    pqxx::connection connection(fixture.auditor_url);
    pqxx::read_transaction tx(connection);
    return verify_chains(tx, from);
  }
  // An out-of-band edit by a superuser who switches the append-only triggers off.
  void tamper(const std::string& sql) {
    auto connection = fixture.superuser();
    pqxx::work tx(connection);
    tx.exec("SET LOCAL session_replication_role = replica");
    tx.exec(sql);
    tx.commit();
  }
};

}  // namespace

TEST(VerifyChains, AnUntouchedLedgerVerifiesAsTheAuditor) {
  Chained chained;
  const VerifyReport report = chained.verify();
  EXPECT_TRUE(report.ok()) << report.first_break->detail;
  EXPECT_EQ(report.links_checked, 5);
  EXPECT_EQ(report.journals_checked, 20);
  EXPECT_EQ(report.checkpoints.size(), 8U);
}

TEST(VerifyChains, AnEditedPostingIsReportedAtItsJournal) {
  Chained chained;
  const JournalId victim = chained.journals[9];
  chained.tamper("UPDATE ledger.posting SET amount_minor = amount_minor + 1 WHERE journal_id = " +
                 std::to_string(victim.value()) + " AND line_number = 1");
  const VerifyReport report = chained.verify();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.first_break->kind, BreakKind::journal_content_changed);
  ASSERT_TRUE(report.first_break->journal_id);
  EXPECT_EQ(*report.first_break->journal_id, victim.value());
}

TEST(VerifyChains, AnEditedJournalTimeIsReportedAtItsLink) {
  Chained chained;
  const JournalId victim = chained.journals[3];
  chained.tamper("UPDATE ledger.journal SET created_at = created_at - interval '1 day' WHERE journal_id = " +
                 std::to_string(victim.value()));
  const VerifyReport report = chained.verify();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.first_break->kind, BreakKind::link_hash_mismatch);
}

TEST(VerifyChains, ADeletedJournalIsReported) {
  Chained chained;
  const std::string victim = std::to_string(chained.journals[0].value());
  chained.tamper("DELETE FROM ledger.posting WHERE journal_id = " + victim +
                 "; DELETE FROM ledger.journal WHERE journal_id = " + victim);
  const VerifyReport report = chained.verify();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.first_break->kind, BreakKind::journal_count_mismatch);
}

TEST(VerifyChains, ARewrittenLinkBreaksTheNextLink) {
  Chained chained;
  chained.tamper(
      "UPDATE ledger.chain_link SET link_sha256 = sha256('forged') "
      "WHERE (chain_id, link_sequence) = (SELECT chain_id, min(link_sequence) FROM ledger.chain_link "
      "                                   GROUP BY chain_id ORDER BY chain_id LIMIT 1)");
  const VerifyReport report = chained.verify();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.first_break->kind, BreakKind::link_hash_mismatch);
}

TEST(VerifyChains, IncrementalVerificationStartsFromACheckpoint) {
  Chained chained;
  const VerifyReport first = chained.verify();
  ASSERT_TRUE(first.ok());
  const auto checkpoints = parse_checkpoints(format_checkpoints(first.checkpoints));
  ASSERT_TRUE(checkpoints);
  ASSERT_TRUE(ledger::post_batch(*chained.fixture.pool, {},
                                 std::vector{transfer("later", chained.bank, chained.collateral, 5)})[0]);
  const VerifyReport second = chained.verify(*checkpoints);
  EXPECT_TRUE(second.ok());
  EXPECT_EQ(second.links_checked, 1) << "only the new link is read";
  EXPECT_EQ(second.journals_checked, 1);

  // A checkpoint that no longer matches the stored link is itself a break.
  auto forged = *checkpoints;
  for (auto& [chain, checkpoint] : forged) {
    if (checkpoint.link_sequence > 0) {
      checkpoint.link_sha256[0] ^= 0xFF;
      break;
    }
  }
  const VerifyReport third = chained.verify(forged);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.first_break->kind, BreakKind::checkpoint_mismatch);
  EXPECT_FALSE(parse_checkpoints("1 2 nothex"));
}
