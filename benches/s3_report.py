"""The summary benches/s3_bench.py prints: each measure against its target."""

from __future__ import annotations

import os
import statistics


def med(xs):
    return statistics.median(xs)


def report(res: dict, args):
    print(f"\ngrantd S3 endpoint vs s3s-fs direct ({os.cpu_count()} cores, {res['date']}, {args.rounds} rounds,"
          f" figures are medians of rounds unless said)")
    rows = []
    if "grants" in res:
        g = res["grants"]
        print(f"  {g['requests']} GETs over 2 grants (cold cache, one connection): {g['get_data_access']} GetDataAccess"
              f" ({g['assume_role']} AssumeRole at the STS), {g['rps_one_connection']:.0f} req/s,"
              f" daemon CPU {g['daemon_cpu_us_per_request']:.0f} us/request")
        rows.append((f"GetDataAccess calls, {g['requests']:,} GETs over 2 grants", f"{g['get_data_access']}", "2",
                     g["get_data_access"] == 2))
    if "small" in res:
        s = res["small"]
        for conns in (1, 16):
            d, g = s[f"direct c{conns}"], s[f"grantd c{conns}"]
            ratio = med([x["rps"] for x in g]) / med([x["rps"] for x in d])
            added = (med([x["p50_us"] for x in g]) - med([x["p50_us"] for x in d])) / 1000
            byround = " / ".join(f"{a['rps'] / b['rps']:.2f}" for a, b in zip(g, d))
            print(f"  4 KiB GET c{conns:<2}: direct {med([x['rps'] for x in d]):7.0f} req/s p50"
                  f" {med([x['p50_us'] for x in d]):6.0f} us p99 {med([x['p99_us'] for x in d]):6.0f} us | grantd"
                  f" {med([x['rps'] for x in g]):7.0f} req/s p50 {med([x['p50_us'] for x in g]):6.0f} us p99"
                  f" {med([x['p99_us'] for x in g]):6.0f} us, daemon CPU {med([x['cpu_us_per_request'] for x in g]):.0f}"
                  f" us/req | ratio {ratio:.2f} (rounds {byround}), p50 added {added:.3f} ms")
            rows.append((f"4 KiB GET req/s grantd/direct, {conns} conn", f"{ratio:.2f}", ">= 0.8", ratio >= 0.8))
            rows.append((f"4 KiB GET p50 added, {conns} conn", f"{added:.3f} ms", "<= 0.3 ms", added <= 0.3))
    if "big" in res:
        b = res["big"]
        for op in ("GET", "PUT"):
            d, g = b["mib_s"][f"direct {op}"], b["mib_s"][f"grantd {op}"]
            ratio = med(g) / med(d)
            print(f"  {args.big_mib} MiB {op}: direct {med(d):6.0f} MiB/s, grantd {med(g):6.0f} MiB/s, ratio"
                  f" {ratio:.2f} (rounds {' / '.join(f'{x / y:.2f}' for x, y in zip(g, d))}), daemon CPU"
                  f" {b['cpu_s_per_gib'][op]:.2f} s/GiB")
            rows.append((f"{args.big_mib} MiB {op} MiB/s grantd/direct (curl, presigned)", f"{ratio:.2f}", ">= 0.9",
                         ratio >= 0.9))
            rows.append((f"daemon CPU per GiB, {op}", f"{b['cpu_s_per_gib'][op]:.2f} s", "", None))
    if "uploads" in res:
        u = res["uploads"]
        for mode in ("chunked", "presigned"):
            d, g = u[f"direct {mode}"], u[f"grantd {mode}"]
            print(f"  {args.uploads} x {args.big_mib} MiB uploads, {mode}: direct {d['mib_s']:.0f} MiB/s, grantd"
                  f" {g['mib_s']:.0f} MiB/s ({g['mib_s'] / d['mib_s']:.2f}); daemon RSS {g['before_kib'] / 1024:.1f} MiB"
                  f" before, peak {g['hwm_kib'] / 1024:.1f} MiB (VmHWM), {g['sampled_peak_kib'] / 1024:.1f} MiB"
                  f" sampled ({g['samples']} samples); daemon CPU {g['cpu_s_per_gib']:.2f} s/GiB")
            rows.append((f"daemon peak RSS, {args.uploads} concurrent {args.big_mib} MiB uploads ({mode})",
                         f"{g['hwm_kib'] / 1024:.1f} MiB", "< 64 MiB", g["hwm_kib"] < 64 * 1024))
            rows.append((f"daemon CPU per GiB, {args.uploads} concurrent uploads ({mode})",
                         f"{g['cpu_s_per_gib']:.2f} s", "", None))
    print("\n  | measure | result | target | met |\n  |---|---|---|---|")
    for what, got, target, ok in rows:
        print(f"  | {what} | {got} | {target} | {'' if ok is None else ('yes' if ok else 'NO')} |")
