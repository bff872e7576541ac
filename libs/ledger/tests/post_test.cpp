#include "cch/ledger/post.hpp"
#include "cch/ledger/queries.hpp"
#include "ledger_fixture.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>

#include <gtest/gtest.h>

namespace {

using namespace cch;
using namespace cch::ledger;
using cch::ledger::testing::LedgerFixture;
using cch::ledger::testing::transfer;

std::int64_t balance_minor(LedgerFixture& fixture, AccountId account) {
  return db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    return balance(tx, account).value().balance.amount_minor;
  });
}

std::int64_t journal_count(LedgerFixture& fixture) {
  return db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    return tx.exec("SELECT count(*) FROM ledger.journal")[0][0].as<std::int64_t>();
  });
}

struct Accounts {
  AccountId bank;
  AccountId alpha_collateral;
  AccountId beta_collateral;
};

Accounts open_accounts(LedgerFixture& fixture) {
  const MemberId alpha = fixture.add_member("alpha-labs");
  const MemberId beta = fixture.add_member("beta-cloud");
  return {fixture.house_account(AccountKind::settlement_bank),
          fixture.member_account(alpha, AccountKind::collateral),
          fixture.member_account(beta, AccountKind::collateral)};
}

}  // namespace

TEST(PostJournal, ABalancedJournalMovesBothBalancesAndTheirVersions) {
  LedgerFixture fixture;
  const Accounts accounts = open_accounts(fixture);
  const auto results = ledger::post_batch(*fixture.pool, {}, std::vector{transfer(
      "deposit-1", accounts.bank, accounts.alpha_collateral, 1'000'000'00, JournalKind::collateral_deposit)});
  ASSERT_EQ(results.size(), 1U);
  ASSERT_TRUE(results[0]) << to_string(results[0].error());
  EXPECT_FALSE(results[0]->replayed);
  EXPECT_EQ(balance_minor(fixture, accounts.bank), 1'000'000'00);
  EXPECT_EQ(balance_minor(fixture, accounts.alpha_collateral), -1'000'000'00);
  db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    EXPECT_EQ(balance(tx, accounts.bank)->version, 1);
  });
}

TEST(PostJournal, TheSameKeyWithTheSameContentReplaysTheOriginal) {
  LedgerFixture fixture;
  const Accounts accounts = open_accounts(fixture);
  const JournalDraft draft = transfer("deposit-1", accounts.bank, accounts.alpha_collateral, 500);
  const auto first = ledger::post_batch(*fixture.pool, {}, std::vector{draft});
  const auto second = ledger::post_batch(*fixture.pool, {}, std::vector{draft});
  ASSERT_TRUE(first[0]);
  ASSERT_TRUE(second[0]);
  EXPECT_EQ(second[0]->journal_id, first[0]->journal_id);
  EXPECT_TRUE(second[0]->replayed);
  EXPECT_EQ(balance_minor(fixture, accounts.bank), 500) << "a replay must not post twice";
  EXPECT_EQ(journal_count(fixture), 1);
}

TEST(PostJournal, TheSameKeyWithOtherContentIsRefused) {
  LedgerFixture fixture;
  const Accounts accounts = open_accounts(fixture);
  ASSERT_TRUE(ledger::post_batch(*fixture.pool, {}, std::vector{transfer("k", accounts.bank, accounts.alpha_collateral, 500)})[0]);
  const auto other = ledger::post_batch(*fixture.pool, {}, std::vector{transfer("k", accounts.bank, accounts.alpha_collateral, 501)});
  ASSERT_FALSE(other[0]);
  EXPECT_EQ(other[0].error(), PostRefusal::idempotency_key_reused);
  EXPECT_EQ(balance_minor(fixture, accounts.bank), 500);
}

TEST(PostJournal, ABatchPostsTheGoodDraftsAndRefusesEachBadOneWithItsReason) {
  LedgerFixture fixture;
  const Accounts accounts = open_accounts(fixture);
  {
    // A second currency, known to the database, for the currency check.
    auto connection = fixture.superuser();
    pqxx::nontransaction tx(connection);
    tx.exec("INSERT INTO ledger.currency VALUES ('XTS', 3)");
  }
  const AccountId test_currency_account = db::run_transaction(
      *fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
        return open_house_account(tx, AccountKind::house_capital, Currency::xts_for_tests());
      });

  std::vector<JournalDraft> drafts;
  drafts.push_back(transfer("good-1", accounts.bank, accounts.alpha_collateral, 100));
  drafts.push_back(transfer("unbalanced", accounts.bank, accounts.alpha_collateral, 100));
  drafts.back().postings[1].amount.amount_minor = -99;
  drafts.push_back(transfer("zero", accounts.bank, accounts.alpha_collateral, 100));
  drafts.back().postings[0].amount.amount_minor = 0;
  drafts.back().postings[1].amount.amount_minor = 0;
  drafts.push_back(transfer("one-line", accounts.bank, accounts.alpha_collateral, 100));
  drafts.back().postings.pop_back();
  drafts.push_back(transfer("unknown-account", AccountId(999999), accounts.alpha_collateral, 100));
  drafts.push_back(transfer("wrong-currency", test_currency_account, accounts.alpha_collateral, 100));
  drafts.push_back(transfer("", accounts.bank, accounts.alpha_collateral, 100));
  drafts.push_back(transfer("good-2", accounts.bank, accounts.beta_collateral, 250));
  drafts.push_back(transfer("good-1", accounts.bank, accounts.alpha_collateral, 100));  // same key, same content
  drafts.push_back(transfer("good-2", accounts.bank, accounts.beta_collateral, 999));  // same key, other content
  drafts.push_back(transfer("bad-reversal", accounts.bank, accounts.alpha_collateral, 100));
  drafts.back().kind = JournalKind::reversal;

  const auto results = ledger::post_batch(*fixture.pool, {}, drafts);
  ASSERT_EQ(results.size(), drafts.size());
  ASSERT_TRUE(results[0]);
  EXPECT_EQ(results[1].error(), PostRefusal::unbalanced);
  EXPECT_EQ(results[2].error(), PostRefusal::zero_amount);
  EXPECT_EQ(results[3].error(), PostRefusal::too_few_postings);
  EXPECT_EQ(results[4].error(), PostRefusal::unknown_account);
  EXPECT_EQ(results[5].error(), PostRefusal::currency_mismatch);
  EXPECT_EQ(results[6].error(), PostRefusal::invalid_idempotency_key);
  ASSERT_TRUE(results[7]);
  ASSERT_TRUE(results[8]);
  EXPECT_EQ(results[8]->journal_id, results[0]->journal_id);
  EXPECT_TRUE(results[8]->replayed);
  EXPECT_EQ(results[9].error(), PostRefusal::idempotency_key_reused);
  EXPECT_EQ(results[10].error(), PostRefusal::reversal_inconsistent);

  EXPECT_EQ(journal_count(fixture), 2);
  EXPECT_EQ(balance_minor(fixture, accounts.bank), 350);
  EXPECT_EQ(balance_minor(fixture, accounts.alpha_collateral), -100);
  db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    EXPECT_EQ(tx.exec_params("SELECT balance_minor FROM ledger.account_balance WHERE account_id = $1",
                             test_currency_account.value())[0][0]
                  .as<std::int64_t>(),
              0);
  });
}

TEST(PostJournal, AReversalNegatesTheOriginalExactlyAndOnlyOnce) {
  LedgerFixture fixture;
  const Accounts accounts = open_accounts(fixture);
  const auto original = ledger::post_batch(*fixture.pool, {}, std::vector{transfer("fee", accounts.bank, accounts.alpha_collateral, 1234)});
  ASSERT_TRUE(original[0]);

  auto reversal_of = [&](std::string key, std::int64_t amount, std::optional<JournalId> target) {
    JournalDraft draft = transfer(std::move(key), accounts.alpha_collateral, accounts.bank, amount, JournalKind::reversal);
    draft.cause = Cause{CauseKind::journal, "correction"};
    draft.reverses = target;
    return draft;
  };
  const auto inexact = ledger::post_batch(*fixture.pool, {}, std::vector{reversal_of("rev-0", 1000, original[0]->journal_id)});
  EXPECT_EQ(inexact[0].error(), PostRefusal::reversal_not_exact);
  const auto missing = ledger::post_batch(*fixture.pool, {}, std::vector{reversal_of("rev-x", 1234, JournalId(424242))});
  EXPECT_EQ(missing[0].error(), PostRefusal::reversal_target_missing);

  const auto exact = ledger::post_batch(*fixture.pool, {}, std::vector{reversal_of("rev-1", 1234, original[0]->journal_id)});
  ASSERT_TRUE(exact[0]) << to_string(exact[0].error());
  EXPECT_EQ(balance_minor(fixture, accounts.bank), 0);
  EXPECT_EQ(balance_minor(fixture, accounts.alpha_collateral), 0);

  const auto again = ledger::post_batch(*fixture.pool, {}, std::vector{reversal_of("rev-2", 1234, original[0]->journal_id)});
  EXPECT_EQ(again[0].error(), PostRefusal::already_reversed);
  const auto replay = ledger::post_batch(*fixture.pool, {}, std::vector{reversal_of("rev-1", 1234, original[0]->journal_id)});
  ASSERT_TRUE(replay[0]);
  EXPECT_TRUE(replay[0]->replayed) << "retrying the reversal itself is a replay, not a second reversal";
}

TEST(PostJournal, NoPostingTakesABalanceBeyondTheLargestAmountAndARefusalPostsNothing) {
  LedgerFixture fixture;
  const Accounts accounts = open_accounts(fixture);
  constexpr std::int64_t kLargest = 1'000'000'000'000'000;  // 10^15 minor units: 10,000,000,000,000.00 USD
  const auto outcome = [](const PostResult& result) {
    return result ? std::string("posted") : std::string(to_string(result.error()));
  };
  const auto post_one = [&](JournalDraft draft) {
    return outcome(ledger::post_batch(*fixture.pool, {}, std::vector{std::move(draft)})[0]);
  };
  EXPECT_EQ(post_one(transfer("to-the-bound", accounts.bank, accounts.alpha_collateral, kLargest)), "posted");
  // One cent more to the house's bank, or to alpha's credit: refused.
  EXPECT_EQ(post_one(transfer("bank-beyond", accounts.bank, accounts.beta_collateral, 1)), "balance_limit_exceeded");
  EXPECT_EQ(post_one(transfer("alpha-beyond", accounts.beta_collateral, accounts.alpha_collateral, 1)),
            "balance_limit_exceeded");
  // A single posting beyond the largest amount, or near the int64 limit: refused, never an overflow.
  EXPECT_EQ(post_one(transfer("huge", accounts.beta_collateral, accounts.alpha_collateral, kLargest + 1)),
            "amount_too_large");
  EXPECT_EQ(post_one(transfer("int64", accounts.bank, accounts.beta_collateral, INT64_MAX)), "amount_too_large");
  EXPECT_EQ(journal_count(fixture), 1);
  EXPECT_EQ(balance_minor(fixture, accounts.bank), kLargest);
  EXPECT_EQ(balance_minor(fixture, accounts.alpha_collateral), -kLargest);
  EXPECT_EQ(balance_minor(fixture, accounts.beta_collateral), 0);

  // In a batch each draft is checked against the balances the drafts before it leave.
  const auto results = ledger::post_batch(
      *fixture.pool, {},
      std::vector{transfer("down", accounts.alpha_collateral, accounts.bank, 10),
                  transfer("up-to-the-bound", accounts.bank, accounts.beta_collateral, 10),
                  transfer("up-beyond", accounts.bank, accounts.beta_collateral, 1),
                  transfer("down-again", accounts.beta_collateral, accounts.bank, 5)});
  ASSERT_EQ(results.size(), 4U);
  EXPECT_EQ(outcome(results[0]), "posted");
  EXPECT_EQ(outcome(results[1]), "posted");
  EXPECT_EQ(outcome(results[2]), "balance_limit_exceeded");
  EXPECT_EQ(outcome(results[3]), "posted");
  EXPECT_EQ(balance_minor(fixture, accounts.bank), kLargest - 5);
  EXPECT_EQ(balance_minor(fixture, accounts.beta_collateral), -5);
  EXPECT_EQ(journal_count(fixture), 4);
}

TEST(PostJournal, ABatchOverTheBoundIsRefusedWhole) {
  LedgerFixture fixture;
  const Accounts accounts = open_accounts(fixture);
  std::vector<JournalDraft> drafts(kJournalsPerBatchMax + 1,
                                   transfer("same", accounts.bank, accounts.alpha_collateral, 1));
  const auto results = ledger::post_batch(*fixture.pool, {}, drafts);
  ASSERT_EQ(results.size(), drafts.size());
  EXPECT_EQ(results.front().error(), PostRefusal::batch_too_large);
  EXPECT_EQ(journal_count(fixture), 0);
}

TEST(PostJournal, TwoBatchesInOneTransactionEachBecomeALink) {
  LedgerFixture fixture;
  const Accounts accounts = open_accounts(fixture);
  db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    ASSERT_TRUE(ledger::post(tx, transfer("a", accounts.bank, accounts.alpha_collateral, 1)));
    ASSERT_TRUE(ledger::post(tx, transfer("b", accounts.bank, accounts.beta_collateral, 2)));
  });
  db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    EXPECT_EQ(tx.exec("SELECT count(*) FROM ledger.chain_link")[0][0].as<int>(), 2);
  });
}

TEST(PostJournal, APreparedBatchPostsLaterInItsTransactionAndAnswersAKeyPostedMeanwhileAsAReplay) {
  LedgerFixture fixture;
  const Accounts accounts = open_accounts(fixture);
  const std::vector<JournalDraft> drafts{transfer("early", accounts.bank, accounts.alpha_collateral, 100),
                                         transfer("raced", accounts.bank, accounts.beta_collateral, 200),
                                         transfer("early", accounts.bank, accounts.alpha_collateral, 100),
                                         transfer("refused", AccountId(999999), accounts.alpha_collateral, 300)};
  std::vector<PostResult> meanwhile, results;
  db::run_transaction(*fixture.pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    PreparedBatch prepared = prepare_batch(tx, drafts);
    // Another transaction posts one of the keys, with the same content, after the look-up.
    meanwhile = ledger::post_batch(*fixture.pool, {}, std::vector{drafts[1]});
    results = post_prepared(tx, std::move(prepared));
  });
  ASSERT_TRUE(meanwhile[0]);
  ASSERT_EQ(results.size(), 4U);
  ASSERT_TRUE(results[0]);
  EXPECT_FALSE(results[0]->replayed);
  ASSERT_TRUE(results[1]);
  EXPECT_TRUE(results[1]->replayed);
  EXPECT_EQ(results[1]->journal_id, meanwhile[0]->journal_id);
  ASSERT_TRUE(results[2]);
  EXPECT_TRUE(results[2]->replayed);
  EXPECT_EQ(results[2]->journal_id, results[0]->journal_id);
  ASSERT_FALSE(results[3]);
  EXPECT_EQ(results[3].error(), PostRefusal::unknown_account);
  EXPECT_EQ(journal_count(fixture), 2);
  EXPECT_EQ(balance_minor(fixture, accounts.bank), 300);
  EXPECT_EQ(balance_minor(fixture, accounts.beta_collateral), -200) << "the raced key posted once";
}
