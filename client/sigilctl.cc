// sigilctl: the operator's command line for a running sigild.
//
//   sigilctl issue SUBJECT SYSTEM[,SYSTEM...] [--scopes=a,b] [--ttl=10m]
//   sigilctl verify TOKEN SYSTEM [--scopes=a,b]
//   sigilctl logout SYSTEM (--subject=S | --token=T)
//   sigilctl logout --all (--subject=S | --token=T)
//   sigilctl revoke TOKEN
//   sigilctl refresh REFRESH_TOKEN
//   sigilctl sessions SUBJECT
//   sigilctl jwks
//   sigilctl keys list
//   sigilctl keys rotate
//
// A TOKEN argument of "-" is read from standard input. Output is for
// people by default (lists as aligned tables with a header row) and the
// response message as JSON with --json. Exit
// status: 0 on success (for verify: verdict OK), 1 when the call failed,
// 2 for a usage error, 3 when verify's verdict is not OK.

#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/text_table.h"
#include "sigil/v1/identity.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "sigild address: host:port or unix:PATH.");
ABSL_FLAG(bool, json, false, "Print the response message as JSON.");
ABSL_FLAG(std::vector<std::string>, scopes, {},
          "issue: scopes to grant; verify: scopes to require.");
ABSL_FLAG(absl::Duration, ttl, absl::ZeroDuration(),
          "issue: token lifetime (the server's default when 0).");
ABSL_FLAG(std::string, subject, "", "logout: the subject to log out.");
ABSL_FLAG(std::string, token, "",
          "logout: the user's own token instead of --subject.");
ABSL_FLAG(bool, all, false, "logout: log out of every system.");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(10), "Per-call deadline.");

namespace {

using sigil::client::TextTable;
using sigil::v1::Identity;

constexpr int kCallFailed = 1;
constexpr int kUsage = 2;
constexpr int kNotOk = 3;
// Sessions asked for per ListSessions call; `sessions` pages through all.
constexpr int kSessionsPageSize = 500;

int Usage(const std::string& message) {
  std::fprintf(stderr, "sigilctl: %s (see --help)\n", message.c_str());
  return kUsage;
}

std::string TokenArg(const std::string& arg) {
  if (arg != "-") return arg;
  std::string token(std::istreambuf_iterator<char>(std::cin), {});
  return std::string(absl::StripAsciiWhitespace(token));
}

std::string FormatTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FormatTime(absl::RFC3339_sec, absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

// "-" for an unset timestamp.
std::string FormatOptional(bool set, const google::protobuf::Timestamp& t) {
  return set ? FormatTimestamp(t) : "-";
}

void PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  std::printf("%s\n", json.c_str());
}

int Failed(const grpc::Status& status) {
  std::fprintf(stderr, "sigilctl: %s: %s\n",
               absl::StatusCodeToString(
                   static_cast<absl::StatusCode>(status.error_code()))
                   .c_str(),
               status.error_message().c_str());
  return kCallFailed;
}

class Commands {
 public:
  explicit Commands(std::unique_ptr<Identity::Stub> stub)
      : stub_(std::move(stub)), json_(absl::GetFlag(FLAGS_json)) {}

  int Issue(const std::vector<char*>& args) {
    if (args.size() != 3) return Usage("issue wants SUBJECT SYSTEM[,SYSTEM]");
    sigil::v1::IssueRequest request;
    request.set_subject(args[1]);
    for (absl::string_view system : absl::StrSplit(args[2], ',')) {
      request.add_systems(std::string(system));
    }
    for (const std::string& scope : absl::GetFlag(FLAGS_scopes)) {
      request.add_scopes(scope);
    }
    const absl::Duration ttl = absl::GetFlag(FLAGS_ttl);
    if (ttl != absl::ZeroDuration()) {
      request.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
    }
    sigil::v1::IssueResponse response;
    auto context = Context();
    grpc::Status status = stub_->Issue(context.get(), request, &response);
    if (!status.ok()) return Failed(status);
    PrintIssued(response);
    return 0;
  }

  int Refresh(const std::vector<char*>& args) {
    if (args.size() != 2) return Usage("refresh wants REFRESH_TOKEN");
    sigil::v1::RefreshRequest request;
    request.set_refresh_token(TokenArg(args[1]));
    sigil::v1::IssueResponse response;
    auto context = Context();
    grpc::Status status = stub_->Refresh(context.get(), request, &response);
    if (!status.ok()) return Failed(status);
    PrintIssued(response);
    return 0;
  }

  int Sessions(const std::vector<char*>& args) {
    if (args.size() != 2) return Usage("sessions wants SUBJECT");
    sigil::v1::ListSessionsRequest request;
    request.set_subject(args[1]);
    request.set_page_size(kSessionsPageSize);
    // Every page, gathered into one response (without a page token).
    sigil::v1::ListSessionsResponse response;
    do {
      sigil::v1::ListSessionsResponse page;
      auto context = Context();
      grpc::Status status = stub_->ListSessions(context.get(), request, &page);
      if (!status.ok()) return Failed(status);
      for (sigil::v1::Session& session : *page.mutable_sessions()) {
        *response.add_sessions() = std::move(session);
      }
      request.set_page_token(page.next_page_token());
    } while (!request.page_token().empty());
    if (json_) {
      PrintJson(response);
      return 0;
    }
    TextTable table({"SESSION", "SYSTEMS", "SCOPES", "CREATED",
                     "LAST_REFRESHED", "EXPIRES", "IDLE_EXPIRES"});
    for (const sigil::v1::Session& session : response.sessions()) {
      table.AddRow({session.session_id(), absl::StrJoin(session.systems(), ","),
                    absl::StrJoin(session.scopes(), ","),
                    FormatTimestamp(session.created()),
                    FormatOptional(session.has_last_refreshed(),
                                   session.last_refreshed()),
                    FormatTimestamp(session.expires_at()),
                    FormatOptional(session.has_idle_expires_at(),
                                   session.idle_expires_at())});
    }
    std::fputs(table.Render().c_str(), stdout);
    return 0;
  }

  int Verify(const std::vector<char*>& args) {
    if (args.size() != 3) return Usage("verify wants TOKEN SYSTEM");
    sigil::v1::VerifyRequest request;
    request.set_token(TokenArg(args[1]));
    request.set_system(args[2]);
    for (const std::string& scope : absl::GetFlag(FLAGS_scopes)) {
      request.add_required_scopes(scope);
    }
    sigil::v1::VerifyResponse response;
    auto context = Context();
    grpc::Status status = stub_->Verify(context.get(), request, &response);
    if (!status.ok()) return Failed(status);
    const sigil::v1::Verdict& verdict = response.verdict();
    if (json_) {
      PrintJson(response);
    } else {
      std::printf("%s %s%s%s\n", verdict.code().c_str(),
                  sigil::v1::Reason_Name(verdict.reason()).c_str(),
                  verdict.message().empty() ? "" : ": ",
                  verdict.message().c_str());
      if (response.has_claims()) {
        const sigil::v1::Claims& claims = response.claims();
        std::printf(
            "subject:    %s\naudience:   %s\nscopes:     %s\n"
            "session_id: %s\ntoken_id:   %s\nexpires_at: %s\n",
            claims.subject().c_str(),
            absl::StrJoin(claims.audience(), ",").c_str(),
            absl::StrJoin(claims.scopes(), " ").c_str(),
            claims.session_id().c_str(), claims.token_id().c_str(),
            FormatTimestamp(claims.expires_at()).c_str());
      }
    }
    return verdict.code() == "OK" ? 0 : kNotOk;
  }

  int Logout(const std::vector<char*>& args) {
    const bool all = absl::GetFlag(FLAGS_all);
    const std::string subject = absl::GetFlag(FLAGS_subject);
    const std::string token = TokenArg(absl::GetFlag(FLAGS_token));
    if (subject.empty() == token.empty()) {
      return Usage("logout wants exactly one of --subject or --token");
    }
    if (all ? args.size() != 1 : args.size() != 2) {
      return Usage("logout wants SYSTEM, or --all and no SYSTEM");
    }
    sigil::v1::LogoutResponse response;
    auto context = Context();
    grpc::Status status;
    if (all) {
      sigil::v1::LogoutAllRequest request;
      if (!subject.empty()) request.set_subject(subject);
      if (!token.empty()) request.set_token(token);
      status = stub_->LogoutAll(context.get(), request, &response);
    } else {
      sigil::v1::LogoutFromSystemRequest request;
      request.set_system(args[1]);
      if (!subject.empty()) request.set_subject(subject);
      if (!token.empty()) request.set_token(token);
      status = stub_->LogoutFromSystem(context.get(), request, &response);
    }
    if (!status.ok()) return Failed(status);
    if (json_) {
      PrintJson(response);
    } else {
      std::printf("logged out: %lld session(s) ended, revocation seq %llu\n",
                  static_cast<long long>(response.revoked_sessions()),
                  static_cast<unsigned long long>(response.revocation_seq()));
    }
    return 0;
  }

  int Revoke(const std::vector<char*>& args) {
    if (args.size() != 2) return Usage("revoke wants TOKEN");
    sigil::v1::RevokeRequest request;
    request.set_token(TokenArg(args[1]));
    sigil::v1::RevokeResponse response;
    auto context = Context();
    grpc::Status status = stub_->Revoke(context.get(), request, &response);
    if (!status.ok()) return Failed(status);
    if (json_) {
      PrintJson(response);
    } else {
      std::printf("revoked\n");
    }
    return 0;
  }

  int Keys(const std::vector<char*>& args) {
    const std::string action = args.size() == 2 ? args[1] : "";
    if (action != "list" && action != "rotate") {
      return Usage("keys wants list or rotate");
    }
    sigil::v1::KeysResponse response;
    auto context = Context();
    grpc::Status status =
        action == "rotate"
            ? stub_->RotateKeys(context.get(), sigil::v1::RotateKeysRequest(),
                                &response)
            : stub_->ListKeys(context.get(), sigil::v1::ListKeysRequest(),
                              &response);
    if (!status.ok()) return Failed(status);
    if (json_) {
      PrintJson(response);
      return 0;
    }
    TextTable table({"KID", "ALG", "STAGE", "CREATED", "ACTIVATED", "RETIRED",
                     "REMOVE_AFTER"});
    for (const sigil::v1::KeyInfo& key : response.keys()) {
      table.AddRow(
          {key.kid(), key.alg(), sigil::v1::KeyStage_Name(key.stage()),
           FormatTimestamp(key.created()),
           FormatOptional(key.has_activated(), key.activated()),
           FormatOptional(key.has_retired(), key.retired()),
           FormatOptional(key.has_remove_after(), key.remove_after())});
    }
    std::fputs(table.Render().c_str(), stdout);
    return 0;
  }

  int Jwks(const std::vector<char*>& args) {
    if (args.size() != 1) return Usage("jwks takes no arguments");
    sigil::v1::GetJwksResponse response;
    auto context = Context();
    grpc::Status status =
        stub_->GetJwks(context.get(), sigil::v1::GetJwksRequest(), &response);
    if (!status.ok()) return Failed(status);
    if (json_) {
      // The JWK Set itself, as standard libraries load it.
      std::printf("%s\n", response.jwks_json().c_str());
    } else {
      TextTable table({"KID", "ALG", "KTY", "CRV", "USE"});
      for (const sigil::v1::Jwk& key : response.keys()) {
        table.AddRow({key.kid(), key.alg(), key.kty(), key.crv(), key.use()});
      }
      std::fputs(table.Render().c_str(), stdout);
    }
    return 0;
  }

 private:
  void PrintIssued(const sigil::v1::IssueResponse& response) const {
    if (json_) {
      PrintJson(response);
      return;
    }
    std::printf(
        "access_token:  %s\nrefresh_token: %s\ntoken_id:      %s\n"
        "session_id:    %s\nexpires_at:    %s\n",
        response.access_token().c_str(), response.refresh_token().c_str(),
        response.token_id().c_str(), response.session_id().c_str(),
        FormatTimestamp(response.expires_at()).c_str());
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(
        absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_deadline)));
    return context;
  }

  std::unique_ptr<Identity::Stub> stub_;
  bool json_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "operate a running sigild.\n"
      "  sigilctl issue SUBJECT SYSTEM[,SYSTEM...] [--scopes=a,b] [--ttl=10m]\n"
      "  sigilctl verify TOKEN SYSTEM [--scopes=a,b]\n"
      "  sigilctl logout SYSTEM (--subject=S | --token=T)\n"
      "  sigilctl logout --all (--subject=S | --token=T)\n"
      "  sigilctl revoke TOKEN\n"
      "  sigilctl refresh REFRESH_TOKEN\n"
      "  sigilctl sessions SUBJECT\n"
      "  sigilctl jwks\n"
      "  sigilctl keys list|rotate\n"
      "A TOKEN of - is read from stdin; --json prints JSON.");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  positional.erase(positional.begin());
  if (positional.empty()) return Usage("missing command");

  Commands commands(Identity::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials())));
  const std::string command = positional[0];
  if (command == "issue") return commands.Issue(positional);
  if (command == "verify") return commands.Verify(positional);
  if (command == "logout") return commands.Logout(positional);
  if (command == "revoke") return commands.Revoke(positional);
  if (command == "refresh") return commands.Refresh(positional);
  if (command == "sessions") return commands.Sessions(positional);
  if (command == "jwks") return commands.Jwks(positional);
  if (command == "keys") return commands.Keys(positional);
  return Usage(absl::StrCat("unknown command \"", command, "\""));
}
