#!/usr/bin/env python3
"""test_parser.py: unit tests proving the serial-output parser accepts a good transcript and rejects each kind of malformed one."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "linux"))
from serialfmt import SerialFormatError, parse_transcript, summarize  # noqa: E402

EXPECTED = ["null_syscall", "pipe_roundtrip"]
GOOD = """\
[    0.000000] Linux version 6.1.0 (console noise is ignored)
BENCH-BEGIN linux-baseline scale=full
BENCH-START null_syscall
BENCH null_syscall ns min=338.1 median=338.1 p99=346.8 n=200
BENCH-START pipe_roundtrip
BENCH pipe_roundtrip ns min=10543.7 median=12966.7 p99=13222.2 n=400
BENCH-DONE
[    2.5] reboot: Power down
"""


class SummarizeTest(unittest.TestCase):
    """summarize(): the statistics the HTTP runners (bench/httpload.py) compute on the host."""

    def test_odd_count(self):
        self.assertEqual(summarize([5, 1, 3]), {"min": 1, "median": 3, "p99": 5, "n": 3})

    def test_even_count_median_is_the_mean_of_the_middle_two(self):
        self.assertEqual(summarize([4, 1, 2, 3]), {"min": 1, "median": 2.5, "p99": 4, "n": 4})

    def test_p99_is_the_nearest_rank(self):
        # ceil(0.99 * 200) = 198: the 198th smallest of 1..200, not the largest.
        self.assertEqual(summarize(list(range(200, 0, -1)))["p99"], 198)
        # ceil(0.99 * 30) = 30: with 30 requests the p99 is the slowest one.
        self.assertEqual(summarize(list(range(1, 31)))["p99"], 30)

    def test_empty_is_refused(self):
        with self.assertRaises(ValueError):
            summarize([])


class ParserTest(unittest.TestCase):
    def reject(self, text, message, expected=EXPECTED):
        with self.assertRaises(SerialFormatError) as cm:
            parse_transcript(text, expected)
        self.assertEqual(str(cm.exception), message)

    def test_good(self):
        r = parse_transcript(GOOD, EXPECTED)
        self.assertEqual(sorted(r), sorted(EXPECTED))
        self.assertEqual(r["null_syscall"]["median"], 338.1)
        self.assertEqual(r["pipe_roundtrip"]["n"], 400)
        self.assertEqual(r["pipe_roundtrip"]["unit"], "ns")

    def test_good_with_crlf(self):
        self.assertEqual(len(parse_transcript(GOOD.replace("\n", "\r\n"), EXPECTED)), 2)

    def test_missing_done(self):
        self.reject(GOOD.replace("BENCH-DONE\n", ""),
                    "missing BENCH-DONE: output truncated (guest crashed, hung or timed out)")

    def test_missing_begin(self):
        self.reject("booting\n", "no BENCH-BEGIN: the guest never reached its benchmark init")

    def test_garbled_line(self):
        self.reject(GOOD.replace("BENCH-START pipe_roundtrip", "BENCH-STRT pipe_roundtrip"),
                    "line 5: garbled line: 'BENCH-STRT pipe_roundtrip'")

    def test_truncated_result_line(self):
        self.reject(GOOD.replace(" p99=346.8 n=200", ""),
                    "line 4: garbled result line: 'BENCH null_syscall ns min=338.1 median=338.1'")

    def test_interleaved_kernel_message(self):
        self.reject(GOOD.replace("BENCH-START pipe_roundtrip", "[ 1.2] rcu: stallBENCH-START pipe_roundtrip"),
                    "line 5: garbled line (BENCH marker mid-line, output interleaved?): "
                    "'[ 1.2] rcu: stallBENCH-START pipe_roundtrip'")

    def test_non_numeric(self):
        self.reject(GOOD.replace("median=338.1", "median=fast"),
                    "line 4: non-numeric value for median of null_syscall: 'fast'")

    def test_negative_is_non_numeric(self):
        self.reject(GOOD.replace("min=338.1", "min=-1"),
                    "line 4: non-numeric value for min of null_syscall: '-1'")

    def test_wrong_key_order(self):
        self.reject(GOOD.replace("min=338.1 median=338.1", "median=338.1 min=338.1"),
                    "line 4: expected 'min=' but found 'median=338.1' in "
                    "'BENCH null_syscall ns median=338.1 min=338.1 p99=346.8 n=200'")

    def test_unordered_stats(self):
        self.reject(GOOD.replace("p99=346.8", "p99=300.0"),
                    "line 4: null_syscall: min <= median <= p99 does not hold in "
                    "'BENCH null_syscall ns min=338.1 median=338.1 p99=300.0 n=200'")

    def test_duplicate_metric(self):
        dup = "BENCH null_syscall ns min=1 median=2 p99=3 n=4\n"
        self.reject(GOOD.replace("BENCH-DONE\n", dup + "BENCH-DONE\n"), "line 7: duplicate metric null_syscall")

    def test_missing_expected_metric(self):
        self.reject(GOOD, "missing expected metric(s): crun_run", EXPECTED + ["crun_run"])

    def test_unexpected_metric(self):
        self.reject(GOOD, "line 4: unexpected metric null_syscall", ["pipe_roundtrip"])

    def test_workload_error(self):
        self.reject(GOOD.replace("BENCH pipe_roundtrip ns min=10543.7 median=12966.7 p99=13222.2 n=400",
                                 "BENCH-ERROR pipe_roundtrip fork failed"),
                    "line 6: workload pipe_roundtrip failed: fork failed")

    def test_output_after_done(self):
        self.reject(GOOD + "BENCH-START null_syscall\n", "line 9: output after BENCH-DONE: 'BENCH-START null_syscall'")

    def test_zero_samples(self):
        self.reject(GOOD.replace("n=200", "n=0"), "line 4: null_syscall has n=0")


if __name__ == "__main__":
    unittest.main()
