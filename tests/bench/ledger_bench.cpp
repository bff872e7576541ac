// cch-ledger-bench: posts two-posting journals through libs/ledger as fast as it can, for the
// ledger benchmark (tests/bench/ledger-benchmark) and the crash test (kill -9 mid-batch).
//
//   cch-ledger-bench --url URL --setup                     migrate and open the accounts
//   cch-ledger-bench --url URL --clients 8 --batch-size 1 --seconds 20
//   cch-ledger-bench --url URL --history-pages 2000        page latency on one account's history
//
// Prints one line of key=value figures. Durable commits: whatever the server is configured with
// (the benchmark script starts it with fsync and synchronous_commit on).
#include "cch/db/migrate.hpp"
#include "cch/db/transaction.hpp"
#include "cch/ledger/accounts.hpp"
#include "cch/ledger/post.hpp"
#include "cch/ledger/queries.hpp"
#include "cch/runtime/schema.hpp"

#include <CLI/CLI.hpp>
#include <pqxx/result>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <random>
#include <thread>

namespace {

using namespace cch;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string url;
  bool setup = false;
  int clients = 8;
  int batch_size = 1;
  double seconds = 10;
  int members = 100;
  std::int64_t batches_max = 0;  // 0: no bound other than time
  int history_pages = 0;
  std::string key_prefix = "bench";
};

std::vector<AccountId> open_accounts(db::ConnectionPool& pool, int members) {
  return db::run_transaction(pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    std::vector<AccountId> accounts;
    accounts.push_back(ledger::open_house_account(tx, ledger::AccountKind::settlement_bank, Currency::usd()));
    for (int m = 0; m < members; ++m) {
      const std::string code = "bench-member-" + std::to_string(m);
      tx.exec_params("INSERT INTO cch.member (code, legal_name) VALUES ($1, $1) ON CONFLICT (code) DO NOTHING", code);
      const MemberId member(tx.exec_params("SELECT member_id FROM cch.member WHERE code = $1", code)[0][0].as<std::int64_t>());
      accounts.push_back(ledger::open_member_account(tx, member, ledger::AccountKind::collateral, Currency::usd()));
    }
    return accounts;
  });
}

double percentile(std::vector<double> values, double fraction) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  return values[index];
}

int run_posting(db::ConnectionPool& pool, const Options& options) {
  const std::vector<AccountId> accounts = open_accounts(pool, options.members);
  std::atomic<std::int64_t> journals{0};
  std::atomic<std::int64_t> batches{0};
  std::atomic<bool> failed{false};
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(options.clients));
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  const auto started = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < options.clients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937_64 random(static_cast<std::uint64_t>(c) + 1);
      std::int64_t sequence = 0;
      db::RetryPolicy policy;
      policy.max_attempts = 20;
      while (Clock::now() < deadline && !failed.load()) {
        const std::int64_t batch_number = batches.fetch_add(1);
        if (options.batches_max > 0 && batch_number >= options.batches_max) {
          break;
        }
        std::vector<ledger::JournalDraft> drafts;
        drafts.reserve(static_cast<std::size_t>(options.batch_size));
        for (int j = 0; j < options.batch_size; ++j) {
          ledger::JournalDraft draft;
          draft.idempotency_key = options.key_prefix + "-" + std::to_string(c) + "-" + std::to_string(sequence++);
          draft.business_date = BusinessDate::parse("2026-11-23").value();
          draft.kind = ledger::JournalKind::collateral_deposit;
          draft.cause = ledger::Cause{ledger::CauseKind::collateral_movement, draft.idempotency_key};
          const AccountId member = accounts[1 + random() % (accounts.size() - 1)];
          const std::int64_t amount = 1 + static_cast<std::int64_t>(random() % 1'000'000);
          draft.postings = {{accounts[0], Money{amount, Currency::usd()}}, {member, Money{-amount, Currency::usd()}}};
          drafts.push_back(std::move(draft));
        }
        const auto begin = Clock::now();
        try {
          for (const auto& result : ledger::post_batch(pool, policy, drafts)) {
            if (!result) {
              std::cerr << "refused: " << ledger::to_string(result.error()) << std::endl;
              failed.store(true);
            }
          }
        } catch (const std::exception& error) {
          std::cerr << "error: " << error.what() << std::endl;
          failed.store(true);
          return;
        }
        latencies[static_cast<std::size_t>(c)].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
        journals.fetch_add(options.batch_size);
      }
    });
  }
  for (auto& client : clients) {
    client.join();
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  std::vector<double> all;
  for (const auto& list : latencies) {
    all.insert(all.end(), list.begin(), list.end());
  }
  std::cout << "clients=" << options.clients << " batch_size=" << options.batch_size << " journals=" << journals.load()
            << " seconds=" << elapsed << " journals_per_second=" << static_cast<double>(journals.load()) / elapsed
            << " batch_latency_ms_p50=" << percentile(all, 0.50) << " batch_latency_ms_p99=" << percentile(all, 0.99)
            << std::endl;
  return failed.load() ? 1 : 0;
}

int run_history(db::ConnectionPool& pool, const Options& options) {
  // The house settlement bank account (in every journal of this benchmark, so the one with the
  // most postings), paged from random positions of its history.
  const auto [account, newest] = db::run_transaction(pool, db::Isolation::read_committed, {}, [&](pqxx::transaction_base& tx) {
    const AccountId bank(tx.exec("SELECT account_id FROM ledger.account WHERE owner_kind = 'house' "
                                 "AND kind = 'settlement_bank' AND currency = 'USD'")[0][0].as<std::int64_t>());
    const auto newest_journal =
        tx.exec_params("SELECT max(journal_id) FROM ledger.posting WHERE account_id = $1", bank.value())[0][0]
            .as<std::int64_t>();
    return std::pair{bank, newest_journal};
  });
  std::mt19937_64 random(7);
  std::vector<double> latencies;
  auto lease = pool.acquire();
  for (int page = 0; page < options.history_pages; ++page) {
    const std::int64_t position = 1 + static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(newest));
    const auto begin = Clock::now();
    pqxx::read_transaction tx(*lease);
    const auto result = ledger::account_history(tx, account, ledger::HistoryCursor{position, 1}, 100);
    tx.commit();
    latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
    if (result.entries.empty() && position > 1000) {
      std::cerr << "empty page at " << position << std::endl;
    }
  }
  std::cout << "history_pages=" << latencies.size() << " page_size=100 account=" << account.value()
            << " page_latency_ms_p50=" << percentile(latencies, 0.50)
            << " page_latency_ms_p99=" << percentile(latencies, 0.99) << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"cch-ledger-bench: ledger throughput and history latency"};
  app.add_option("--url", options.url, "PostgreSQL URL (a cch_writer login, or a superuser for --setup)")->required();
  app.add_flag("--setup", options.setup, "Apply migrations and open the accounts, then exit");
  app.add_option("--clients", options.clients, "Concurrent posting threads")->check(CLI::Range(1, 256));
  app.add_option("--batch-size", options.batch_size, "Journals per transaction")->check(CLI::Range(1, 10000));
  app.add_option("--seconds", options.seconds, "How long to post")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--members", options.members, "Member accounts to spread postings over")->check(CLI::Range(1, 100000));
  app.add_option("--batches", options.batches_max, "Stop after this many batches (0: only the time bound)");
  app.add_option("--history-pages", options.history_pages, "Measure this many history pages instead of posting")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--key-prefix", options.key_prefix, "Idempotency key prefix (distinct per run)");
  CLI11_PARSE(app, argc, argv);

  db::PoolOptions pool_options;
  pool_options.url = options.url;
  pool_options.size = static_cast<std::size_t>(options.clients) + 1;
  pool_options.acquire_timeout = std::chrono::milliseconds(30000);
  pool_options.application_name = "cch-ledger-bench";
  db::ConnectionPool pool(pool_options);
  if (options.setup) {
    auto lease = pool.acquire();
    const auto migrated = db::migrate(*lease, runtime::schema_migrations());
    if (!migrated) {
      std::cerr << migrated.error().message << std::endl;
      return 2;
    }
    return 0;
  }
  if (options.history_pages > 0) {
    return run_history(pool, options);
  }
  return run_posting(pool, options);
}
