// End-to-end tests of sigilctl's output against a real sigild on a unix
// socket: lists print as aligned tables for people, and as the response
// message in JSON with --json.

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/e2e/sigil_process.h"
#include "tests/testing/temp_dir.h"
#include "token/json.h"

namespace sigil::e2e {
namespace {

constexpr char kSigildPath[] = SIGIL_BINARY_DIR "/server/sigild";
constexpr char kSigilctlPath[] = SIGIL_BINARY_DIR "/client/sigilctl";

struct CtlRun {
  int exit_code = -1;
  std::string out;
};

// A table as sigilctl prints it: the header's cells and each row's.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// Splits `text` into cells by runs of spaces and checks that every cell of
// every line starts where its header cell does: the columns are aligned.
Table ParseTable(const std::string& text) {
  Table table;
  std::vector<size_t> starts;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> cells;
    std::vector<size_t> line_starts;
    size_t i = 0;
    while (i < line.size()) {
      const size_t end = std::min(line.find(' ', i), line.size());
      cells.emplace_back(line.substr(i, end - i));
      line_starts.push_back(i);
      i = line.find_first_not_of(' ', end);
      if (i == absl::string_view::npos) break;
    }
    if (table.header.empty()) {
      table.header = cells;
      starts = line_starts;
      continue;
    }
    EXPECT_EQ(line_starts, starts) << "misaligned row: " << line;
    table.rows.push_back(cells);
  }
  return table;
}

class SigilctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    target_ = sockets_.Address("sigild.sock");
    sigild_ = std::make_unique<SigilProcess>(
        kSigildPath,
        std::vector<std::string>{absl::StrCat("--listen=", target_),
                                 absl::StrCat("--data_dir=", dir_.Sub("data"))},
        target_, dir_.Sub("sigild.log"));
    ASSERT_TRUE(sigild_->Spawn());
    ASSERT_TRUE(sigild_->WaitReady());
  }

  void TearDown() override {
    if (sigild_ != nullptr && sigild_->running()) {
      EXPECT_EQ(sigild_->Stop(), 0) << "sigild's exit";
    }
  }

  CtlRun Ctl(const std::vector<std::string>& args) {
    std::string command =
        absl::StrCat("'", kSigilctlPath, "' '--target=", target_, "'");
    for (const std::string& arg : args)
      absl::StrAppend(&command, " '", arg, "'");
    CtlRun run;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
      ADD_FAILURE() << "popen " << command;
      return run;
    }
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
      run.out.append(buffer, n);
    }
    const int status = pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
  }

  // The session_id of a new session of `subject`.
  std::string Issue(const std::string& subject, const std::string& systems,
                    const std::string& scopes) {
    const CtlRun run = Ctl({"--json", "issue", subject, systems,
                            absl::StrCat("--scopes=", scopes)});
    EXPECT_EQ(run.exit_code, 0) << run.out;
    auto issued = token::ParseJson(run.out);
    EXPECT_TRUE(issued.ok()) << run.out;
    if (!issued.ok() || issued->Find("session_id") == nullptr) return "";
    return issued->Find("session_id")->string_value();
  }

  static token::JsonValue Json(const CtlRun& run) {
    EXPECT_EQ(run.exit_code, 0) << run.out;
    auto parsed = token::ParseJson(run.out, {64 * 1024, 8});
    EXPECT_TRUE(parsed.ok()) << parsed.status() << ": " << run.out;
    return parsed.ok() ? *std::move(parsed) : token::JsonValue();
  }

  // The values of `field` in the objects of array `array` of `json`.
  static std::vector<std::string> Column(const token::JsonValue& json,
                                         const std::string& array,
                                         const std::string& field) {
    std::vector<std::string> values;
    const token::JsonValue* items = json.Find(array);
    if (items == nullptr) return values;
    for (const token::JsonValue& item : items->items()) {
      const token::JsonValue* value = item.Find(field);
      values.push_back(value != nullptr ? value->string_value() : "");
    }
    return values;
  }

  static std::vector<std::string> TableColumn(const Table& table,
                                              const std::string& name) {
    std::vector<std::string> values;
    const auto it = std::find(table.header.begin(), table.header.end(), name);
    if (it == table.header.end()) return values;
    const size_t index = it - table.header.begin();
    for (const auto& row : table.rows) {
      values.push_back(index < row.size() ? row[index] : "");
    }
    return values;
  }

  sigil::testing::TempDir dir_;
  // Declared before sigild_, so it outlives the process.
  SocketDir sockets_;
  std::string target_;
  std::unique_ptr<SigilProcess> sigild_;
};

TEST_F(SigilctlTest, SessionsPrintAsAnAlignedTableOrAsJson) {
  const std::string first = Issue("carol", "A,B", "orders.read,orders.write");
  const std::string second = Issue("carol", "C", "profile");

  const CtlRun human = Ctl({"sessions", "carol"});
  ASSERT_EQ(human.exit_code, 0) << human.out;
  const Table table = ParseTable(human.out);
  EXPECT_EQ(table.header, (std::vector<std::string>{
                              "SESSION", "SYSTEMS", "SCOPES", "CREATED",
                              "LAST_REFRESHED", "EXPIRES", "IDLE_EXPIRES"}));
  ASSERT_EQ(table.rows.size(), 2u) << human.out;
  for (const auto& row : table.rows) {
    ASSERT_EQ(row.size(), table.header.size()) << human.out;
    EXPECT_EQ(row[4], "-") << "never refreshed";
    const std::string& id = row[0];
    EXPECT_TRUE(id == first || id == second) << id;
    EXPECT_EQ(row[1], id == first ? "A,B" : "C");
    EXPECT_EQ(row[2], id == first ? "orders.read,orders.write" : "profile");
  }

  const token::JsonValue json = Json(Ctl({"--json", "sessions", "carol"}));
  std::vector<std::string> ids = Column(json, "sessions", "session_id");
  std::vector<std::string> in_table = TableColumn(table, "SESSION");
  std::sort(ids.begin(), ids.end());
  std::sort(in_table.begin(), in_table.end());
  EXPECT_EQ(ids, in_table);
}

TEST_F(SigilctlTest, KeysAndJwksTablesMatchTheirJson) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> header;
    // The JSON array and field that list what the table's first column does.
    std::string array;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{"keys", "list"},
       {"KID", "ALG", "STAGE", "CREATED", "ACTIVATED", "RETIRED",
        "REMOVE_AFTER"},
       "keys",
       "kid"},
      {{"keys", "rotate"},
       {"KID", "ALG", "STAGE", "CREATED", "ACTIVATED", "RETIRED",
        "REMOVE_AFTER"},
       "keys",
       "kid"},
      {{"jwks"}, {"KID", "ALG", "KTY", "CRV", "USE"}, "keys", "kid"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    const CtlRun human = Ctl(c.args);
    ASSERT_EQ(human.exit_code, 0) << human.out;
    const Table table = ParseTable(human.out);
    EXPECT_EQ(table.header, c.header);
    for (const auto& row : table.rows) {
      EXPECT_EQ(row.size(), c.header.size()) << human.out;
    }
    // keys rotate prints the keys after its rotation; list them again.
    std::vector<std::string> json_args = {"--json"};
    if (c.args[0] == "keys") {
      json_args.insert(json_args.end(), {"keys", "list"});
    } else {
      json_args.insert(json_args.end(), c.args.begin(), c.args.end());
    }
    const token::JsonValue json = Json(Ctl(json_args));
    EXPECT_EQ(TableColumn(table, "KID"), Column(json, c.array, c.field));
    EXPECT_FALSE(table.rows.empty());
  }
}

}  // namespace
}  // namespace sigil::e2e
