#!/usr/bin/env python3
"""test_http_records.py: unit tests of the HTTP benchmark's figures and report: wrk's WRK-RESULT line
to records (failed requests counted, never hidden; rates of successful answers only), the connect
stagger of wrk's script, the MettEagle runner's key file swap, and report.py's table by connection
count with its ratios against Linux + crun and the warm Linux process and the goals' verdicts."""
import importlib.util
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "..", "scripts"))
import httpload  # noqa: E402
import report  # noqa: E402

# bench/metteagle/http_run.py, by path: bench/linux holds an http_run.py too.
_spec = importlib.util.spec_from_file_location("metteagle_http_run", os.path.join(here, "..", "metteagle", "http_run.py"))
metteagle_http_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(metteagle_http_run)


def wrk_result(**fields):
    result = {"requests": 0, "duration_us": 10_000_000, "bytes": 0, "connect": 0, "read": 0, "write": 0,
              "status": 0, "timeout": 0, "min_us": 0, "p50_us": 0, "p99_us": 0, "max_us": 0, "sent": 0}
    result.update(fields)
    return result


def record(system, metric, value, unit, **extra):
    return dict({"metric": metric, "system": system, "value": value, "unit": unit, "mode": "wall",
                 "cpu": "test cpu", "accel": "tcg", "commit": "abc1234"}, **extra)


class WrkOutputTest(unittest.TestCase):
    def test_the_last_result_line_is_taken(self):
        out = ("Running 10s test\nWRK-RESULT {\"requests\": 1}\n"
               "WRK-RESULT {\"requests\": 2, \"status\": 0}\nRequests/sec: 0.2\n")
        self.assertEqual(httpload.parse_wrk_output(out), {"requests": 2, "status": 0})

    def test_no_result_line_is_none(self):
        self.assertIsNone(httpload.parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n"))


class InvokeFiguresTest(unittest.TestCase):
    def test_a_clean_run_at_one_connection(self):
        figures = httpload.invoke_figures(
            wrk_result(requests=2000, sent=2001, min_us=1500, p50_us=3900, p99_us=11300), 1)
        self.assertEqual(figures, {
            "http_invoke_rps": (200.0, "per_second", {"n": 2000, "connections": 1}),
            "http_invoke_failed": (0, "count", {"n": 2000, "connections": 1}),
            "http_invoke_unanswered": (1, "count", {"n": 2001, "connections": 1}),
            "http_invoke_latency_p50": (3_900_000, "ns", {"min": 1_500_000, "p99": 11_300_000, "n": 2000,
                                                          "connections": 1}),
            "http_invoke_latency_p99": (11_300_000, "ns", {"min": 1_500_000, "p99": 11_300_000, "n": 2000,
                                                           "connections": 1}),
        })

    def test_failures_are_counted_and_left_out_of_the_rate(self):
        # 1,000 answers of which 40 were non-2xx and 10 came after --timeout; 5 connects and 3 reads failed.
        figures = httpload.invoke_figures(
            wrk_result(requests=1000, status=40, timeout=10, connect=5, read=3, sent=1064, p50_us=20_000,
                       p99_us=900_000), 64)
        self.assertEqual(figures["http_invoke_rps_64conn"], (95.0, "per_second", {"n": 950, "connections": 64}))
        self.assertEqual(figures["http_invoke_failed_64conn"], (58, "count", {"n": 1008, "connections": 64}))
        # 1,064 sent: 1,000 answered, 3 lost to read errors, 61 still in flight at the end.
        self.assertEqual(figures["http_invoke_unanswered_64conn"], (61, "count", {"n": 1064, "connections": 64}))
        self.assertEqual(figures["http_invoke_latency_p99_64conn"][0], 900_000_000)
        self.assertEqual(sorted(figures), ["http_invoke_failed_64conn", "http_invoke_latency_p50_64conn",
                                           "http_invoke_latency_p99_64conn", "http_invoke_rps_64conn",
                                           "http_invoke_unanswered_64conn"])

    def test_nothing_answered_gives_a_zero_rate_the_failures_and_no_latency(self):
        figures = httpload.invoke_figures(wrk_result(connect=16, read=16), 16)
        self.assertEqual(figures, {
            "http_invoke_rps_16conn": (0.0, "per_second", {"n": 0, "connections": 16}),
            "http_invoke_failed_16conn": (32, "count", {"n": 32, "connections": 16}),
            "http_invoke_unanswered_16conn": (0, "count", {"n": 0, "connections": 16}),
        })

    def test_requests_outlasting_the_run_are_unanswered_not_failed(self):
        figures = httpload.invoke_figures(wrk_result(sent=64), 64)
        self.assertEqual(figures["http_invoke_failed_64conn"][0], 0)
        self.assertEqual(figures["http_invoke_unanswered_64conn"], (64, "count", {"n": 64, "connections": 64}))
        self.assertEqual(figures["http_invoke_rps_64conn"][0], 0.0)

    def test_records_keep_counts_without_a_distribution(self):
        figures = httpload.invoke_figures(wrk_result(requests=10, status=2, p50_us=5, p99_us=7, min_us=1), 4)
        records = {r["metric"]: r for r in httpload.records(figures, "linux-warm", {"smp": 2})}
        failed = records["http_invoke_failed_4conn"]
        self.assertEqual((failed["system"], failed["value"], failed["unit"], failed["n"], failed["connections"]),
                         ("linux-warm", 2, "count", 10, 4))
        self.assertNotIn("p99", failed)
        self.assertNotIn("min", records["http_invoke_rps_4conn"])
        self.assertEqual(records["http_invoke_latency_p50_4conn"]["p99"], 7000)


class WrkScriptTest(unittest.TestCase):
    def test_few_connections_start_at_once(self):
        for connections in (1, 4):
            script = httpload.wrk_script(connections, {"Authorization": "Bearer k"})
            self.assertIn("local stagger = nil", script)
            self.assertNotIn("usleep", script)
            self.assertNotIn("delay", script)
            self.assertIn('wrk.headers["Authorization"] = "Bearer k"', script)
            self.assertIn("WRK-RESULT", script)

    def test_many_connections_are_staggered_to_one_start(self):
        script = httpload.wrk_script(64)
        self.assertIn(f"ffi.C.usleep({httpload.STAGGER_MS} * 1000)", script)
        self.assertIn(f'thread:set("go", first + 64 * {httpload.STAGGER_MS})', script)
        self.assertIn("delay = function()", script)
        self.assertEqual(httpload.STAGGER_FROM, 16)
        self.assertIn("stagger = function(thread)", httpload.wrk_script(16))


class KeysTest(unittest.TestCase):
    MODULES = ["b/user/root.elf", "b/user/gateway.elf task file=keys", "b/user/store.elf task",
               "b/gateway.keys data name=keys"]

    def test_the_keys_module_is_replaced(self):
        self.assertEqual(metteagle_http_run.with_keys(self.MODULES, "/k/bench.keys"),
                         self.MODULES[:3] + ["/k/bench.keys data name=keys"])

    def test_a_configuration_without_keys_is_refused(self):
        with self.assertRaises(ValueError) as cm:
            metteagle_http_run.with_keys(self.MODULES[:3], "/k/bench.keys")
        self.assertEqual(str(cm.exception), "the boot configuration has no single `data name=keys` module")

    def test_the_bench_keys_let_64_connections_queue(self):
        with open(metteagle_http_run.BENCH_KEYS) as f:
            lines = [line.split() for line in f if line.strip() and not line.startswith("#")]
        alpha = next(words for words in lines if words[0] == "dev-key-alpha")
        limit = int(next(w for w in alpha if w.startswith("limit=")).split("=")[1])
        queue = int(next(w for w in alpha if w.startswith("queue=")).split("=")[1])
        self.assertGreaterEqual(limit + queue, max(httpload.CONNECTIONS))


class ConcurrencyTableTest(unittest.TestCase):
    def records(self):
        out = []
        for system, rates in (("metteagle", (250, 600, 640, 650)), ("linux", (4, 6, 6.4, 5)),
                              ("linux-warm", (800, 1000, 1100, 1300))):
            for c, rate in zip(report.HTTP_CONNECTIONS, rates):
                sfx = report.http_suffix(c)
                out += [record(system, "http_invoke_rps" + sfx, rate, "per_second"),
                        record(system, "http_invoke_latency_p50" + sfx, 4e6 * c, "ns"),
                        record(system, "http_invoke_latency_p99" + sfx, 12e6 * c, "ns"),
                        record(system, "http_invoke_failed" + sfx, 3 if (system, c) == ("metteagle", 64) else 0,
                               "count", n=6503)]
                if system != "linux":
                    out.append(record(system, "http_invoke_unanswered" + sfx, c, "count"))
        return out

    def test_ratios_and_verdicts(self):
        rows = report.http_concurrency_table(report.index(self.records()))
        self.assertEqual(rows[2], "| 1 | 250.0 /s (4.00 ms, 12.00 ms; 0; 1) | 4.0 /s (4.00 ms, 12.00 ms; 0; —) | "
                                  "800.0 /s (4.00 ms, 12.00 ms; 0; 1) | 62.5× (goal ≥ 100×: NOT met) | "
                                  "0.312× (goal ≥ 0.5×: NOT met) |")
        self.assertEqual(rows[3], "| 4 | 600.0 /s (16.00 ms, 48.00 ms; 0; 4) | 6.0 /s (16.00 ms, 48.00 ms; 0; —) | "
                                  "1000.0 /s (16.00 ms, 48.00 ms; 0; 4) | 100× (goal ≥ 100×: met) | "
                                  "0.6× (goal ≥ 0.5×: met) |")
        self.assertEqual(rows[5], "| 64 | 650.0 /s (256.00 ms, 768.00 ms; 3; 64) | 5.0 /s (256.00 ms, 768.00 ms; 0; —) | "
                                  "1300.0 /s (256.00 ms, 768.00 ms; 0; 64) | 130× (goal ≥ 100×: met) | "
                                  "0.5× (goal ≥ 0.5×: met) |")
        self.assertEqual(rows[-1], "Failed MettEagle requests at 64 connections: **3** of 6,503 that ended, "
                                    "64 still unanswered at the end (goal 0: NOT met).")

    def test_a_missing_system_leaves_its_ratio_open(self):
        only = [r for r in self.records() if r["system"] != "linux-warm"]
        rows = report.http_concurrency_table(report.index(only))
        self.assertTrue(rows[2].endswith("| — | 62.5× (goal ≥ 100×: NOT met) | — |"), rows[2])

    def test_a_system_that_answered_nothing_has_no_factor(self):
        records = [dict(r, value=0) if r["metric"] == "http_invoke_rps_64conn" and r["system"] == "linux" else r
                   for r in self.records()]
        rows = report.http_concurrency_table(report.index(records))
        self.assertIn("| ∞ (the other answered none in its run) | 0.5× (goal ≥ 0.5×: met) |", rows[5])
        self.assertEqual(report.rate_goal(0, 0, 100), "— (the other answered none in its run)")

    def test_no_http_records_no_table(self):
        self.assertEqual(report.http_concurrency_table(report.index([record("linux", "null_syscall", 300, "ns")])),
                         [])

    def test_zero_failures_meet_the_goal(self):
        records = [r if r["metric"] != "http_invoke_failed_64conn" or r["system"] != "metteagle"
                   else dict(r, value=0) for r in self.records()]
        self.assertEqual(report.http_concurrency_table(report.index(records))[-1],
                         "Failed MettEagle requests at 64 connections: **0** of 6,503 that ended, "
                         "64 still unanswered at the end (goal 0: met).")


if __name__ == "__main__":
    unittest.main()
