"""Writes docs/scale.md (to stdout) from one bench/scale.sh run.

Usage: scale_report.py OUT_DIR COUNT... (the revocation counts, baseline
first). OUT_DIR holds the files bench/scale.sh writes.
"""

import datetime
import json
import os
import re
import sys


def load(out, name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)


def text(out, name):
    with open(os.path.join(out, name)) as f:
        return f.read()


def memory_kib(out, name):
    """{"VmRSS": kib, "VmHWM": kib} from lines of /proc/PID/status."""
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(Vm\w+):\s+(\d+) kB", text(out, name), re.M)}


def startup_seconds(out, n):
    """From the launch instant to the timestamp of "sigild serving on"."""
    launch = float(text(out, f"launch_{n}.txt"))
    for line in text(out, f"sigild_{n}.log").splitlines():
        if "sigild serving on" in line:
            stamp = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
            return stamp.replace(tzinfo=datetime.timezone.utc).timestamp() - launch
    raise ValueError(f"no serving line for {n}")


def mib(kib):
    return f"{kib / 1024:,.0f} MiB"


def main():
    out = sys.argv[1]
    counts = sys.argv[2:]
    base = counts[0]
    disk = {}
    for line in text(out, "disk.txt").splitlines():
        size, path = line.split()
        disk[path.rsplit("_", 1)[1]] = int(size)

    print("# Scale\n")
    print("Measured by `bench/scale.sh` in one run on this machine "
          f"({text(out, 'nproc.txt').strip()} cores shared by sigild and the load "
          "generator; load average before and after: "
          + "; ".join(l.split("load average:")[1].strip()
                      for l in text(out, "load.txt").splitlines()) + "). "
          "Other work shared the machine too, so rates are noisy to a few "
          "percent either way. Reproduce with `bench/scale.sh` after "
          "`scripts/build.sh` (defaults: `COUNTS=\"0 1000000 10000000\"`, "
          "`RUN_SECONDS=10`).\n")

    print("## Verify and memory against live revocations\n")
    print("Each data dir is filled by `bench/scale/populate_revocations` "
          "(one revocation in 100 a subject logout, the rest single tokens, all "
          "live for 24 h), appended through the store unsynced and compacted, "
          "then a fresh sigild serves it. `sigil-bench` at concurrency 16: "
          "`verify` repeats one token, `verify_distinct` cycles 5,000. Memory "
          "is sigild's VmRSS / VmHWM from `/proc/PID/status`, after start-up "
          "and after both runs.\n")
    print("| revocations | fill (s) | on disk | start-up (s) | verify/s | p99 ms "
          "| verify_distinct/s | p99 ms | RSS after start | RSS / HWM after runs |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = {}
    for n in counts:
        pop = load(out, f"populate_{n}.json")
        v = load(out, f"verify_{n}.json")
        d = load(out, f"verify_distinct_{n}.json")
        start = memory_kib(out, f"memory_start_{n}.txt")
        end = memory_kib(out, f"memory_end_{n}.txt")
        up = startup_seconds(out, n)
        rows[n] = (v, d, start, end, up)
        print(f"| {int(n):,} | {pop['total_seconds']:.1f} | {disk[n] / 2**20:,.0f} MiB "
              f"| {up:.2f} | {v['throughput']:,.0f} | {v['latency_ms']['p99']:.2f} "
              f"| {d['throughput']:,.0f} | {d['latency_ms']['p99']:.2f} "
              f"| {mib(start['VmRSS'])} | {mib(end['VmRSS'])} / {mib(end['VmHWM'])} |")
    print()
    print("Fill times are the bench loader's, not sigild's: "
          + ", ".join(f"{int(n) / load(out, f'populate_{n}.json')['append_seconds']:,.0f}/s "
                      f"for {int(n):,}" for n in counts if int(n) > 0)
          + " unsynced appends (each reads the target's existing entry to merge "
          "with it, so the pace drops as the table grows), then a full "
          "compaction.\n")
    top = counts[-1]
    vb, db, sb, eb, _ = rows[base]
    vt, dt, st, et, upt = rows[top]
    ratio = vt["throughput"] / vb["throughput"]
    ratio_d = dt["throughput"] / db["throughput"]
    verdict = "met" if ratio >= 0.9 else "missed"
    print(f"Verify throughput with {int(top):,} revocations is {ratio:.2f}x that "
          f"with {int(base):,} (target 0.9x or more: {verdict}); "
          f"verify_distinct {ratio_d:.2f}x.")
    if int(top) > int(base):
        per = (st["VmRSS"] - sb["VmRSS"]) * 1024 / (int(top) - int(base))
        print(f"sigild's resident memory after start-up grows by about {per:.0f} "
              f"bytes per revocation (the in-memory index; the peak while loading, "
              f"VmHWM, is {mib(et['VmHWM'])}). Start-up on {int(top):,} "
              f"revocations, from exec to the `sigild serving on` line, took "
              f"{upt:.1f} s: sigild reads every revocation into the index at start, "
          "so start-up grows linearly with the live revocations.\n")

    lo = load(out, "logout.json")
    many = lo["many"]
    one = lo["one"]
    print("## LogoutFromSystem with 10,000 sessions\n")
    print(f"`bench/scale/logout_latency` against the sigild on {int(top):,} "
          f"revocations: {lo['sessions']:,} Issue calls for one subject at "
          f"systems A and B ({lo['issue_seconds']:.1f} s), then "
          f"{len(many)} rounds of one more Issue and one timed LogoutFromSystem "
          "at A; the same for a subject with a single session. Sessions are "
          "written unsynced, so an untimed logout of another subject first "
          "flushes the WAL the 10,000 Issue calls left (otherwise the first "
          "timed logout's fsync would carry it). Each logout is one synced "
          "RocksDB write, so its latency is mostly the fsync.\n")
    print("| round | 10,000 sessions: ms | sessions ended | 1 session: ms | sessions ended |")
    print("|---|---|---|---|---|")
    for i, (m, o) in enumerate(zip(many, one), 1):
        print(f"| {i} | {m['ms']:.2f} | {m['revoked_sessions']:,} | {o['ms']:.2f} "
              f"| {o['revoked_sessions']:,} |")
    print()
    print("Logout cost is bounded by the subject's systems, not its sessions: "
          "the store reads and resets one counter per covered system, so ending "
          f"{many[0]['revoked_sessions']:,} sessions costs what ending one does.\n")

    sdk = load(out, "sdk_cache.json")
    print("## SDK memory per cached verdict\n")
    print(f"`bench/scale/sdk_cache_memory`: a local-mode `sigil::Client` "
          f"verifies {sdk['tokens']:,} distinct ES256 tokens (about "
          f"{sdk['mean_token_bytes']:.0f} bytes each) issued by an in-process "
          f"authority, filling its cache ({sdk['cached']:,} entries). Growth "
          "across that loop:\n")
    per100k_rss = sdk["rss_bytes_per_entry"] * 100000 / 2**20
    per100k_heap = sdk["heap_bytes_per_entry"] * 100000 / 2**20
    print("| measure | per entry | per 100k entries |")
    print("|---|---|---|")
    print(f"| process RSS | {sdk['rss_bytes_per_entry']:,.0f} B | {per100k_rss:,.1f} MiB |")
    print(f"| malloc in use (`mallinfo2`) | {sdk['heap_bytes_per_entry']:,.0f} B "
          f"| {per100k_heap:,.1f} MiB |")
    print()
    print("An entry holds the token text as its key and the verified claims "
          "(shared, immutable), so its size follows the token's.")


if __name__ == "__main__":
    main()
