"""Writes docs/benchmarks.md (to stdout) from one bench/run.sh run.

Usage: report.py OUT_DIR PLOT_DATA
OUT_DIR holds bench.json (client_bench), openssl.txt, propagation.json and
the files of bench/compare.sh; PLOT_DATA is where the table that
bench/plot.gp draws is written.
"""

import json
import os
import re
import sys

CONCURRENCIES = (1, 4, 16, 64)


def load(out, name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)


def openssl_rates(path):
    """{alg: (sign/s, verify/s)} from `openssl speed` output."""
    speed = {}
    for line in open(path):
        m = re.match(r"\s*(\d+) bits (\w+) \((\w+)\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            speed[m.group(3)] = (float(m.group(4)), float(m.group(5)))
        m = re.match(r"rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            speed["rsa2048"] = (float(m.group(1)), float(m.group(2)))
    return speed


def met(value, goal):
    return "met" if value >= goal else "missed"


def sdk_section(bench, speed):
    print("| benchmark | rate | beside |")
    print("|---|---|---|")
    for name in ("BM_CachedVerify/real_time/threads:1", "BM_CachedVerify/real_time/threads:2"):
        print(f"| SDK cached Verify, {name.split(':')[-1]} thread(s) | {bench[name]:,.0f} | |")
    for alg, key in (("ES256", "nistp256"), ("EdDSA", "Ed25519"), ("RS256", "rsa2048")):
        rate = bench[f"BM_LocalMiss/{alg}"]
        ref = speed.get(key, (0, 0))[1]
        ratio = f"{rate / ref:.2f} of openssl speed verify ({ref:,.0f}/s)" if ref else ""
        print(f"| local Verify on a cache miss, {alg} | {rate:,.0f} | {ratio} |")
    for threads in (1, 2):
        rate = bench[f"BM_RemoteVerify/real_time/threads:{threads}"]
        empty = bench[f"BM_HealthCheck/real_time/threads:{threads}"]
        print(f"| remote Verify on a cache miss (ES256), {threads} thread(s) | "
              f"{rate:,.0f} | costs {empty / rate:.1f}x an empty health Check "
              f"({empty:,.0f}/s) |")
    print()


def propagation_section(prop):
    print("## Logout propagation\n")
    print(f"From the `LogoutFromSystem` reply until each of {prop['subscribers']} "
          "local-mode SDK clients (one TCP connection each) has applied the "
          "revocation, so its cached verdict no longer counts; every client "
          "then rejects the token. "
          f"{prop['rounds']} rounds, {prop['samples']} samples, in ms; an upper "
          "bound, as the poller shares the cores with the clients' threads. "
          f"{prop['at_first_sweep']} samples were applied at the first look after "
          "the reply: the authority publishes before it replies.\n")
    print("| subscribers | p50 | p99 | p99.9 | max | goal: p99 under 5 ms |")
    print("|---|---|---|---|---|---|")
    p999 = prop["p999_ms"]
    p999 = f"{p999:.3f}" if p999 is not None else ""
    goal = "met" if prop["p99_ms"] < 5 else "missed"
    print(f"| {prop['subscribers']} | {prop['p50_ms']:.3f} | {prop['p99_ms']:.3f} | "
          f"{p999} | {prop['max_ms']:.3f} | {goal} |")
    print()
    print("Counted instead from just before the `LogoutFromSystem` request (so "
          "including the authority's synced write): "
          f"p50 {prop['request_p50_ms']:.3f} ms, p99 {prop['request_p99_ms']:.3f} ms. "
          "Three warm-up rounds run first and are not counted.")
    print()
    print("Per-round max, ms: " + ", ".join(f"{v:.3f}" for v in prop["round_max_ms"]))
    print()


def counts(d):
    return ", ".join(f"{k} {v:,}" for k, v in sorted(d.items())) or "-"


def server_section(out, plot_path):
    health = {c: load(out, f"sigil_health_c{c}.json") for c in CONCURRENCIES}
    verify = {c: load(out, f"sigil_verify_c{c}.json") for c in CONCURRENCIES}
    oidc = {c: load(out, f"oidc_introspect_c{c}.json") for c in CONCURRENCIES}
    print("## The server under load: sigil-bench\n")
    print("A real `sigild` (dev mode, plaintext on loopback, RocksDB in a "
          "temporary directory) driven by `sigil-bench` on the same two "
          "cores, one gRPC channel, each run timed "
          f"({verify[16]['elapsed_s']:.0f} s) after a warm-up. Verify repeats "
          "one valid token; the health Check is the empty-RPC baseline, "
          "driven the same way. node `oidc-provider` (in-memory adapter, "
          "client_credentials, HTTP/1.1 keep-alive, driven by "
          "`bench/peers/http_load.mjs`) introspects one opaque token. "
          "Rates are calls per second; latencies in ms.\n")
    print("| concurrency | health Check | p99 | Verify | p99 | Verify / Check "
          "| oidc-provider introspection | p99 | Verify / introspection |")
    print("|---|---|---|---|---|---|---|---|---|")
    with open(plot_path, "w") as plot:
        plot.write("# concurrency check_rate check_p99 verify_rate verify_p99 "
                   "oidc_rate oidc_p99\n")
        for c in CONCURRENCIES:
            h, v, o = health[c], verify[c], oidc[c]
            print(f"| {c} | {h['throughput']:,.0f} | {h['latency_ms']['p99']:.2f} "
                  f"| {v['throughput']:,.0f} | {v['latency_ms']['p99']:.2f} "
                  f"| {v['throughput'] / h['throughput']:.2f} "
                  f"| {o['throughput']:,.0f} | {o['p99_ms']:.2f} "
                  f"| {v['throughput'] / o['throughput']:.1f} |")
            plot.write(f"{c} {h['throughput']:.1f} {h['latency_ms']['p99']:.4f} "
                       f"{v['throughput']:.1f} {v['latency_ms']['p99']:.4f} "
                       f"{o['throughput']:.1f} {o['p99_ms']:.4f}\n")
    print()
    print("![throughput and p99 against concurrency](benchmarks.png)\n")

    print("Every scenario of `sigil-bench` at concurrency 16 (watch: 100 "
          "`WatchRevocations` streams, 200 logouts one after another, latency "
          "from just before each `LogoutFromSystem` request to the event's "
          "arrival at each stream, so the synced write is included):\n")
    print("| scenario | completed | rate | p50 | p99 | p99.9 | statuses | verdicts |")
    print("|---|---|---|---|---|---|---|---|")
    rows = [("verify (one token)", "sigil_verify_c16.json"),
            ("verify_distinct (5000 tokens)", "sigil_verify_distinct_c16.json"),
            ("verify_invalid (6 kinds of bad token)", "sigil_verify_invalid_c16.json"),
            ("issue", "sigil_issue_c16.json"),
            ("issue, concurrency 64", "sigil_issue_c64.json"),
            ("logout (a synced revocation each)", "sigil_logout_c16.json"),
            ("logout, concurrency 1", "sigil_logout_c1.json"),
            ("logout, concurrency 64", "sigil_logout_c64.json"),
            ("refresh", "sigil_refresh_c16.json"),
            ("mix (Issue, 3 Verify, logout, Verify)", "sigil_mix_c16.json"),
            ("health", "sigil_health_c16.json"),
            ("watch (deliveries)", "sigil_watch.json")]
    for label, name in rows:
        r = load(out, name)
        lat = r["latency_ms"]
        print(f"| {label} | {r['completed']:,} | {r['throughput']:,.0f} "
              f"| {lat['p50']:.2f} | {lat['p99']:.2f} | {lat['p999']:.2f} "
              f"| {counts(r['status'])} | {counts(r['verdict'])} |")
    print()
    alone = load(out, "sigil_logout_c1.json")["throughput"]
    together = load(out, "sigil_logout_c64.json")["throughput"]
    print(f"Group commit: concurrent logouts share one synced write, so 64 "
          f"clients log out {together / alone:.1f}x as fast as one client "
          f"alone ({together:,.0f}/s against {alone:,.0f}/s).\n")
    return health, verify, oidc


def peers_section(out, bench, speed, verify, health, oidc):
    sign, verify_rate = openssl_rates(os.path.join(out, "openssl_ecdsa.txt"))["nistp256"]
    sdk_reference = speed["nistp256"][1]
    issue = load(out, "sigil_issue_c16.json")
    oidc_jwt = load(out, "oidc_jwt_c16.json")
    node = load(out, "node_verify.json")
    pyjwt = load(out, "pyjwt_verify.json")
    sdk = bench["BM_LocalMiss/ES256"]
    print("## Signing and verifying beside OpenSSL and the peers\n")
    print(f"`openssl speed -seconds 3 ecdsap256` (one core) measured again "
          f"just before the peers: sign {sign:,.0f}/s, verify "
          f"{verify_rate:,.0f}/s. `openssl speed` counts CPU seconds, so the "
          "peers' single-thread rates are per CPU second (user + system) "
          "too; per wall-clock second they drop whenever other work takes "
          "the core. Each verifies one ES256 token (signature, exp, iss, aud; "
          "no cache):\n")
    print("| verifier | per CPU second | / openssl speed verify | per wall second "
          "| measured once on a machine like this |")
    print("|---|---|---|---|---|")
    # The SDK's rate is held against the openssl run next to it.
    print(f"| Sigil SDK local Verify, cache miss (Google Benchmark, above) "
          f"| {sdk:,.0f} | {sdk / sdk_reference:.2f} (of the first openssl run, "
          f"{sdk_reference:,.0f}/s) | | |")
    for label, rate, anchor in (("fast-jwt 6.3.6 (node)", node["fast_jwt"], "0.82"),
                                ("PyJWT 2.6.0 (Debian python3-jwt)", pyjwt["pyjwt"], "0.72"),
                                ("jose 5.9.6 (node)", node["jose"], "0.53")):
        print(f"| {label} | {rate['cpu']:,.0f} | {rate['cpu'] / verify_rate:.2f} "
              f"| {rate['wall']:,.0f} | {anchor} |")
    print()
    print(f"Issuing: Sigil `Issue` at concurrency 16 (sign an ES256 JWT, open a "
          f"session in RocksDB, write an audit line) {issue['throughput']:,.0f}/s, "
          f"{issue['throughput'] / sign:.2f} of one core's `openssl speed` sign "
          f"rate; oidc-provider issues an ES256 JWT access token "
          f"(client_credentials with a resource indicator) at "
          f"{oidc_jwt['throughput']:,.0f}/s (p99 {oidc_jwt['p99_ms']:.1f} ms) at "
          "concurrency 16.\n")

    print("Sanity check of the harness against figures measured once on a "
          "quieter machine like this one: oidc-provider introspection about "
          "5,500/s and JWT issuance about 4,500/s at concurrency 16; here "
          f"{oidc[16]['throughput']:,.0f}/s and {oidc_jwt['throughput']:,.0f}/s. "
          "oidc-provider serves on one JavaScript thread, which gets a "
          "smaller share of a busy machine than sigild's thread pool, so "
          "when it falls well short of those figures the ratios against it "
          "flatter Sigil: hold Sigil's rates against them too.\n")
    print("## Targets (issue 6)\n")
    ratio_verify = verify[16]["throughput"] / health[16]["throughput"]
    ratio_issue = issue["throughput"] / sign
    ratio_oidc_verify = verify[16]["throughput"] / oidc[16]["throughput"]
    ratio_oidc_issue = issue["throughput"] / oidc_jwt["throughput"]
    ratio_sdk = sdk / sdk_reference
    print("| target | measured | goal | |")
    print("|---|---|---|---|")
    print(f"| Verify throughput / health Check, concurrency 16 | {ratio_verify:.2f} | 0.8 | {met(ratio_verify, 0.8)} |")
    print(f"| Issue / one core's openssl ES256 sign | {ratio_issue:.2f} | 0.3 | {met(ratio_issue, 0.3)} |")
    print(f"| Sigil Verify / oidc-provider introspection, concurrency 16 | {ratio_oidc_verify:.1f} | 5 | {met(ratio_oidc_verify, 5)} |")
    print(f"| Sigil Issue / oidc-provider JWT issuance, concurrency 16 | {ratio_oidc_issue:.1f} | 3 | {met(ratio_oidc_issue, 3)} |")
    print(f"| SDK local verify / openssl ES256 verify | {ratio_sdk:.2f} | 0.9 | {met(ratio_sdk, 0.9)} |")
    print()


def instructions_section(out):
    print("## Instructions per call\n")
    print("What sigild executes per call, counted by valgrind's callgrind "
          "(`bench/instructions.sh`: two runs of each scenario at concurrency "
          "4, the difference of their totals over the difference of their "
          "calls). Unlike the rates above these hardly move when other work "
          "shares the machine, so they are what to compare across changes. "
          "Signing runs OpenSSL's generic code under valgrind, so Issue and "
          "refresh count more than they cost natively.\n")
    with open(os.path.join(out, "instructions.md")) as f:
        print(f.read())


def main():
    out, plot_path = sys.argv[1], sys.argv[2]
    bench = {b["name"]: b["items_per_second"]
             for b in load(out, "bench.json")["benchmarks"]}
    speed = openssl_rates(os.path.join(out, "openssl.txt"))
    prop = load(out, "propagation.json")
    print("# Benchmarks\n")
    print("Written by `bench/run.sh` in one run on one machine: Google "
          "Benchmark (the SDK, the authority in-process on loopback), "
          "`openssl speed`, `propagation_bench`, and `bench/compare.sh` "
          "(`sigil-bench` against a real `sigild`, and the peers). The "
          "machine has 2 cores shared by client, server and other work, so "
          "figures are noisy: compare ratios within one run, not across "
          "runs. Rates are per second.\n")
    with open(os.path.join(out, "load.txt")) as f:
        load_avg = [line.split("load average:")[-1].strip() for line in f]
    print(f"Load average (1, 5, 15 min) when the run started: {load_avg[0]}; "
          f"when it ended: {load_avg[-1]}.\n")
    sdk_section(bench, speed)
    propagation_section(prop)
    health, verify, oidc = server_section(out, plot_path)
    peers_section(out, bench, speed, verify, health, oidc)
    instructions_section(out)
    print("## Commands\n")
    print("```")
    print("bench/install-peers.sh   # once: oidc-provider, jose, fast-jwt into .deps/bench")
    print("bench/run.sh             # writes this page and docs/benchmarks.png")
    print("```\n")
    print("which runs, among the rest:\n")
    print("```")
    print("build/bench/client_bench --benchmark_min_time=2 --benchmark_format=json")
    print("openssl speed -seconds 3 ecdsap256 ed25519 rsa2048")
    print("build/bench/propagation_bench --subscribers=100 --rounds=30 --json")
    print("build/bench/load/sigil-bench --target=127.0.0.1:PORT --json --max_time=5s \\")
    print("  --scenario=verify --concurrency=16 --count=100000000 --warmup=2000")
    print("node bench/peers/http_load.mjs http://127.0.0.1:PORT/token/introspection \\")
    print("  CLIENT:SECRET 'token=@TOKEN@' 16 5 introspect")
    print("node bench/peers/jwt_verify.mjs .deps/bench/node_modules 3")
    print("/usr/bin/python3 bench/peers/pyjwt_verify.py 3")
    print("```")


if __name__ == "__main__":
    main()
