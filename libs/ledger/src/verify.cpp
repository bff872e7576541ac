#include "cch/ledger/verify.hpp"

#include "cch/ledger/canonical.hpp"
#include "cch/ledger/hex.hpp"

#include <pqxx/result>

#include <charconv>
#include <sstream>

namespace cch::ledger {
namespace {

constexpr std::int64_t kLinksPerPage = 500;
constexpr std::int64_t kJournalsPerPage = 20000;

struct LinkRow {
  std::int64_t sequence = 0;
  Sha256Digest previous{};
  Sha256Digest hash{};
  std::int64_t journal_count = 0;
};

struct JournalRow {
  StoredJournal journal;
  std::int64_t link_sequence = 0;
  Sha256Digest stored_hash{};
};

std::vector<LinkRow> read_links(pqxx::transaction_base& tx, int chain_id, std::int64_t after) {
  std::vector<LinkRow> links;
  std::int64_t journals = 0;
  for (const auto& row : tx.exec_params(
           "SELECT link_sequence, encode(previous_sha256, 'hex'), encode(link_sha256, 'hex'), journal_count "
           "FROM ledger.chain_link WHERE chain_id = $1 AND link_sequence > $2 ORDER BY link_sequence LIMIT $3",
           chain_id, after, kLinksPerPage)) {
    LinkRow link{row[0].as<std::int64_t>(), digest_from_hex(row[1].as<std::string>()),
                 digest_from_hex(row[2].as<std::string>()), row[3].as<std::int64_t>()};
    if (!links.empty() && journals + link.journal_count > kJournalsPerPage) {
      break;  // keep pages bounded; the next page starts here
    }
    journals += link.journal_count;
    links.push_back(link);
  }
  return links;
}

// Journals (with postings) of links first..last of a chain, in (link, journal id) order.
std::vector<JournalRow> read_journals(pqxx::transaction_base& tx, int chain_id, std::int64_t first, std::int64_t last) {
  std::vector<JournalRow> journals;
  std::map<std::int64_t, std::size_t> position;
  for (const auto& row : tx.exec_params(
           "SELECT journal_id, link_sequence, idempotency_key, business_date::text, kind, cause_kind, cause_reference, "
           "       reverses_journal_id, memo, request_id, (extract(epoch FROM created_at) * 1000000)::bigint, "
           "       encode(content_sha256, 'hex') "
           "FROM ledger.journal WHERE chain_id = $1 AND link_sequence BETWEEN $2 AND $3 "
           "ORDER BY link_sequence, journal_id",
           chain_id, first, last)) {
    JournalRow journal;
    journal.journal.journal_id = row[0].as<std::int64_t>();
    journal.link_sequence = row[1].as<std::int64_t>();
    journal.journal.idempotency_key = row[2].as<std::string>();
    journal.journal.business_date = row[3].as<std::string>();
    journal.journal.kind = row[4].as<std::string>();
    journal.journal.cause_kind = row[5].as<std::string>();
    journal.journal.cause_reference = row[6].as<std::string>();
    if (!row[7].is_null()) {
      journal.journal.reverses_journal_id = row[7].as<std::int64_t>();
    }
    journal.journal.memo = row[8].as<std::string>();
    if (!row[9].is_null()) {
      journal.journal.request_id = row[9].as<std::string>();
    }
    journal.journal.created_at_unix_microseconds = row[10].as<std::int64_t>();
    journal.stored_hash = digest_from_hex(row[11].as<std::string>());
    position.emplace(journal.journal.journal_id, journals.size());
    journals.push_back(std::move(journal));
  }
  for (const auto& row : tx.exec_params(
           "SELECT p.journal_id, p.line_number, p.account_id, p.currency, p.amount_minor "
           "FROM ledger.posting p JOIN ledger.journal j USING (journal_id) "
           "WHERE j.chain_id = $1 AND j.link_sequence BETWEEN $2 AND $3 ORDER BY p.journal_id, p.line_number",
           chain_id, first, last)) {
    journals[position.at(row[0].as<std::int64_t>())].journal.postings.push_back(
        {row[1].as<int>(), row[2].as<std::int64_t>(), row[3].as<std::string>(), row[4].as<std::int64_t>()});
  }
  return journals;
}

ChainBreak make_break(BreakKind kind, int chain_id, std::int64_t sequence, std::optional<std::int64_t> journal,
                      std::string detail) {
  return ChainBreak{kind, chain_id, sequence, journal, std::move(detail)};
}

// Verifies one chain from `start`; returns the first break or the checkpoint reached.
std::optional<ChainBreak> verify_chain(pqxx::transaction_base& tx, ChainCheckpoint& position, VerifyReport& report) {
  const int chain_id = position.chain_id;
  if (position.link_sequence > 0) {
    const auto rows = tx.exec_params(
        "SELECT encode(link_sha256, 'hex') FROM ledger.chain_link WHERE chain_id = $1 AND link_sequence = $2",
        chain_id, position.link_sequence);
    if (rows.empty() || digest_from_hex(rows[0][0].as<std::string>()) != position.link_sha256) {
      return make_break(BreakKind::checkpoint_mismatch, chain_id, position.link_sequence, std::nullopt,
                        "the checkpointed link is missing or has another hash");
    }
  }
  for (;;) {
    const std::vector<LinkRow> links = read_links(tx, chain_id, position.link_sequence);
    if (links.empty()) {
      break;
    }
    const std::vector<JournalRow> journals = read_journals(tx, chain_id, links.front().sequence, links.back().sequence);
    std::size_t next_journal = 0;
    for (const LinkRow& link : links) {
      if (link.sequence != position.link_sequence + 1 || link.previous != position.link_sha256) {
        return make_break(BreakKind::link_not_chained, chain_id, link.sequence, std::nullopt,
                          "link does not follow link " + std::to_string(position.link_sequence));
      }
      std::vector<LinkJournal> members;
      while (next_journal < journals.size() && journals[next_journal].link_sequence == link.sequence) {
        const JournalRow& row = journals[next_journal++];
        const Sha256Digest recomputed = content_hash(row.journal);
        if (recomputed != row.stored_hash) {
          return make_break(BreakKind::journal_content_changed, chain_id, link.sequence, row.journal.journal_id,
                            "journal " + std::to_string(row.journal.journal_id) +
                                " no longer matches its content hash (its rows were edited)");
        }
        members.push_back({row.journal.journal_id, row.journal.created_at_unix_microseconds, row.journal.request_id,
                           row.stored_hash});
        ++report.journals_checked;
      }
      if (static_cast<std::int64_t>(members.size()) != link.journal_count) {
        return make_break(BreakKind::journal_count_mismatch, chain_id, link.sequence, std::nullopt,
                          "link says " + std::to_string(link.journal_count) + " journals, found " +
                              std::to_string(members.size()));
      }
      if (link_hash(chain_id, link.sequence, position.link_sha256, members) != link.hash) {
        return make_break(BreakKind::link_hash_mismatch, chain_id, link.sequence,
                          members.empty() ? std::nullopt : std::optional(members.front().journal_id),
                          "link hash does not match its journals (a journal id, time or request id was edited)");
      }
      position.link_sequence = link.sequence;
      position.link_sha256 = link.hash;
      ++report.links_checked;
    }
  }
  const auto head = tx.exec_params(
      "SELECT link_sequence, encode(link_sha256, 'hex') FROM ledger.chain_head WHERE chain_id = $1", chain_id);
  if (head.empty() || head[0][0].as<std::int64_t>() != position.link_sequence ||
      digest_from_hex(head[0][1].as<std::string>()) != position.link_sha256) {
    return make_break(BreakKind::head_mismatch, chain_id, position.link_sequence, std::nullopt,
                      "the chain head does not point at the last link");
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(BreakKind kind) {
  switch (kind) {
    case BreakKind::journal_content_changed: return "journal_content_changed";
    case BreakKind::link_hash_mismatch: return "link_hash_mismatch";
    case BreakKind::link_not_chained: return "link_not_chained";
    case BreakKind::journal_count_mismatch: return "journal_count_mismatch";
    case BreakKind::head_mismatch: return "head_mismatch";
    case BreakKind::checkpoint_mismatch: return "checkpoint_mismatch";
  }
  return "unknown";
}

VerifyReport verify_chains(pqxx::transaction_base& tx, const std::map<int, ChainCheckpoint>& from) {
  VerifyReport report;
  for (const auto& row : tx.exec("SELECT chain_id FROM ledger.chain_head ORDER BY chain_id")) {
    const int chain_id = row[0].as<int>();
    const auto checkpoint = from.find(chain_id);
    ChainCheckpoint position = checkpoint != from.end() ? checkpoint->second
                                                        : ChainCheckpoint{chain_id, 0, genesis_hash(chain_id)};
    if (auto broken = verify_chain(tx, position, report)) {
      report.first_break = std::move(broken);
      return report;
    }
    report.checkpoints.push_back(position);
  }
  return report;
}

std::string format_checkpoints(const std::vector<ChainCheckpoint>& checkpoints) {
  std::string out;
  for (const ChainCheckpoint& checkpoint : checkpoints) {
    out += std::to_string(checkpoint.chain_id) + " " + std::to_string(checkpoint.link_sequence) + " " +
           to_hex(checkpoint.link_sha256) + "\n";
  }
  return out;
}

std::optional<std::map<int, ChainCheckpoint>> parse_checkpoints(std::string_view text) {
  std::map<int, ChainCheckpoint> checkpoints;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      continue;
    }
    std::istringstream fields(line);
    ChainCheckpoint checkpoint;
    std::string hex;
    if (!(fields >> checkpoint.chain_id >> checkpoint.link_sequence >> hex) || hex.size() != 64 ||
        hex.find_first_not_of("0123456789abcdef") != std::string::npos || checkpoint.link_sequence < 0) {
      return std::nullopt;
    }
    checkpoint.link_sha256 = digest_from_hex(hex);
    checkpoints[checkpoint.chain_id] = checkpoint;
  }
  return checkpoints;
}

}  // namespace cch::ledger
